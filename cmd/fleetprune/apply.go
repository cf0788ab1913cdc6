package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/profiles"
)

func init() { subcommands = append(subcommands, newApplyCmd) }

func newApplyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f fleet.yaml",
		Short: "Declare device classes and base models from a fleet document",
		Long: `Send a fleet document (YAML or JSON) to the coordinator. It is validated whole:
every error is listed by field path and nothing is stored unless all of it is valid.
A model that gives a source file instead of a digest has the file uploaded to the
model bucket first (the path is relative to the document).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("apply: give the fleet document with -f FILE (or -f - for stdin)")
			}
			doc, dir, err := readDoc(file)
			if err != nil {
				return err
			}
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			fleet, err := profiles.ParseFleet(doc)
			if err != nil {
				return fmt.Errorf("apply: %s: %w", file, err)
			}
			uploaded := false
			for i := range fleet.Models {
				m := &fleet.Models[i]
				if m.Digest != "" || m.Source == "" {
					continue
				}
				src := m.Source
				if !filepath.IsAbs(src) {
					src = filepath.Join(dir, src)
				}
				b, err := os.ReadFile(src)
				if err != nil {
					return fmt.Errorf("apply: models[%d].source: %w", i, err)
				}
				res, err := cl.UploadArtifact(cmd.Context(), b)
				if err != nil {
					return fmt.Errorf("apply: upload models[%d].source %s: %w", i, m.Source, err)
				}
				m.Digest = res.SHA256
				uploaded = true
				fmt.Fprintf(cmd.OutOrStdout(), "model %s: uploaded %s (%d bytes, sha256 %s)\n", m.Name, m.Source, res.SizeBytes, res.SHA256)
			}
			if uploaded {
				if doc, err = json.Marshal(fleet); err != nil {
					return fmt.Errorf("apply: encode: %w", err)
				}
			}
			res, err := cl.Apply(cmd.Context(), doc)
			if err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			for _, c := range res.Classes {
				fmt.Fprintf(cmd.OutOrStdout(), "class %s applied\n", c)
			}
			for _, m := range res.Models {
				fmt.Fprintf(cmd.OutOrStdout(), "model %s applied\n", m)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "fleet document (YAML or JSON), - for stdin")
	addClientFlags(cmd)
	return cmd
}

// readDoc reads a document from path ("-": stdin) and returns the directory that
// relative paths inside it are resolved against.
func readDoc(path string) ([]byte, string, error) {
	if path == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, profiles.MaxFleetBytes+1))
		if err != nil {
			return nil, "", fmt.Errorf("read stdin: %w", err)
		}
		return b, ".", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if st.Size() > profiles.MaxFleetBytes {
		return nil, "", fmt.Errorf("read %s: %d bytes, a fleet document has at most %d", path, st.Size(), profiles.MaxFleetBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	return b, filepath.Dir(path), nil
}

// addClientFlags adds the flags of the API client commands.
func addClientFlags(cmd *cobra.Command) {
	addConfigFlag(cmd)
	cmd.Flags().String("server", defaultServer, "coordinator HTTP API")
}

// apiClient returns a client of the server from the configuration (--server,
// FLEETPRUNE_SERVER, the config file).
func apiClient(cmd *cobra.Command) (*coordinator.Client, error) {
	s, _, err := loadSettings(cmd)
	if err != nil {
		return nil, err
	}
	return coordinator.NewClient(s.Server)
}

package agent

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// ErrBadCommand marks a command message the agent refuses before acting on it:
// oversized, not a Command, addressed elsewhere, or with invalid fields.
var ErrBadCommand = errors.New("bad command")

// maxCommandIDLen bounds a command id.
const maxCommandIDLen = 256

// decodeCommand decodes a command from the wire and checks that it is for this
// device and class and that its fields are usable. Manifests are checked later,
// against the coordinator's key. Every error wraps ErrBadCommand; the returned
// command, when not nil alongside an error, carries whatever id could be read.
func decodeCommand(b []byte, limit int, device, class string) (*fpv1.Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrBadCommand)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCommand, len(b), limit)
	}
	cmd := &fpv1.Command{}
	if err := proto.Unmarshal(b, cmd); err != nil {
		return nil, fmt.Errorf("%w: not a Command: %v", ErrBadCommand, err)
	}
	if err := checkCommand(cmd, device, class); err != nil {
		return cmd, err
	}
	return cmd, nil
}

func checkCommand(cmd *fpv1.Command, device, class string) error {
	switch {
	case cmd.GetId() == "":
		return fmt.Errorf("%w: no command id", ErrBadCommand)
	case len(cmd.GetId()) > maxCommandIDLen:
		return fmt.Errorf("%w: command id is %d bytes, limit %d", ErrBadCommand, len(cmd.GetId()), maxCommandIDLen)
	case cmd.GetClass() != class:
		return fmt.Errorf("%w: command for class %q, this device is in %q", ErrBadCommand, trunc(cmd.GetClass()), class)
	case cmd.GetDeviceId() != "" && cmd.GetDeviceId() != device:
		return fmt.Errorf("%w: command for device %q, this is %q", ErrBadCommand, trunc(cmd.GetDeviceId()), device)
	}
	switch k := cmd.GetKind().(type) {
	case *fpv1.Command_Benchmark:
		b := k.Benchmark
		if b.GetManifest() == nil {
			return fmt.Errorf("%w: benchmark: no manifest", ErrBadCommand)
		}
		if err := checkRuns(b.GetWarmupRuns(), b.GetTimedRuns()); err != nil {
			return fmt.Errorf("%w: benchmark: %w", ErrBadCommand, err)
		}
		if n := b.GetBatchSize(); n < 0 || n > MaxBatchSize {
			return fmt.Errorf("%w: benchmark: batch size %d, want 0..%d", ErrBadCommand, n, MaxBatchSize)
		}
		if len(b.GetPurpose()) > 64 || len(b.GetRolloutId()) > maxCommandIDLen || b.GetStage() < 0 {
			return fmt.Errorf("%w: benchmark: purpose, rollout id or stage out of range", ErrBadCommand)
		}
	case *fpv1.Command_Install:
		in := k.Install
		if in.GetManifest() == nil {
			return fmt.Errorf("%w: install: no manifest", ErrBadCommand)
		}
		if err := checkRuns(in.GetWarmupRuns(), in.GetTimedRuns()); err != nil {
			return fmt.Errorf("%w: install: %w", ErrBadCommand, err)
		}
		if len(in.GetRolloutId()) > maxCommandIDLen || in.GetStage() < 0 {
			return fmt.Errorf("%w: install: rollout id or stage out of range", ErrBadCommand)
		}
	case *fpv1.Command_Rollback:
		r := k.Rollback
		if v := r.GetToVariant(); v != "" && !namePattern.MatchString(v) {
			return fmt.Errorf("%w: rollback: to_variant %q is not a variant id", ErrBadCommand, trunc(v))
		}
		if len(r.GetRolloutId()) > maxCommandIDLen || r.GetStage() < 0 || len(r.GetReason()) > 4096 {
			return fmt.Errorf("%w: rollback: rollout id, stage or reason out of range", ErrBadCommand)
		}
	case nil:
		return fmt.Errorf("%w: no kind (benchmark, install or rollback)", ErrBadCommand)
	default:
		return fmt.Errorf("%w: unknown kind %T", ErrBadCommand, k)
	}
	return nil
}

// checkRuns validates warm-up and timed runs; 0 means the agent's default.
func checkRuns(warmup, timed int32) error {
	if warmup < 0 || warmup > MaxWarmupRuns {
		return fmt.Errorf("warm-up runs %d, want 0..%d", warmup, MaxWarmupRuns)
	}
	if timed < 0 || timed > MaxTimedRuns {
		return fmt.Errorf("timed runs %d, want 0..%d", timed, MaxTimedRuns)
	}
	return nil
}

// trunc shortens a string from the wire for an error message.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

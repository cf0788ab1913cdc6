package agent

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range []*fpv1.Command{
		benchCmd("b", &fpv1.SignedManifest{Manifest: []byte{1}, Signature: []byte{2}}),
		installCmd("i", &fpv1.SignedManifest{}),
		rollbackCmd("r", "v1"),
		{Id: "x", Class: testClass, DeviceId: "dev"},
	} {
		b, _ := proto.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := decodeCommand(data, DefaultMaxCommandBytes, "dev", testClass)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		// An accepted command is addressed here and has what execute relies on.
		if cmd.GetId() == "" || cmd.GetClass() != testClass || (cmd.GetDeviceId() != "" && cmd.GetDeviceId() != "dev") {
			t.Fatalf("accepted command %v is not for this device", cmd)
		}
		if commandKind(cmd) == "unknown" {
			t.Fatalf("accepted command %v has no kind", cmd)
		}
	})
}

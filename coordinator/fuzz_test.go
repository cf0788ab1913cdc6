package coordinator

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// decoderOnly is a coordinator with only the configuration its wire decoders read.
func decoderOnly() *Coordinator { return &Coordinator{cfg: DefaultConfig()} }

func FuzzDecodeRegister(f *testing.F) {
	good, _ := proto.Marshal(&fpv1.RegisterRequest{DeviceId: "dev-1", Profile: &fpv1.HardwareProfile{Arch: "amd64", Cores: 4}})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\x0a\xff\xff\xff\xff\x0f"))
	c := decoderOnly()
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := c.decodeRegister(b)
		if err != nil {
			if !errors.Is(err, errRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		if checkName("device_id", req.GetDeviceId()) != nil || req.GetProfile() == nil {
			t.Fatalf("accepted a registration with device %q, profile %v", req.GetDeviceId(), req.GetProfile())
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	good, _ := proto.Marshal(&fpv1.Heartbeat{DeviceId: "dev-1", Seq: 3})
	f.Add("fleet.v1.heartbeat.dev-1", good)
	f.Add("fleet.v1.heartbeat.dev-2", good)
	f.Add("fleet.v1.heartbeat", []byte("x"))
	c := decoderOnly()
	f.Fuzz(func(t *testing.T, subject string, b []byte) {
		hb, err := c.decodeHeartbeat(subject, b)
		if err != nil {
			if !errors.Is(err, errRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		if subject != fpv1.HeartbeatSubject(hb.GetDeviceId()) {
			t.Fatalf("accepted a heartbeat of %q on %q", hb.GetDeviceId(), subject)
		}
	})
}

func FuzzDecodeReport(f *testing.F) {
	good, _ := proto.Marshal(&fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "benchmark", Seq: 1, P50Ns: 1, P95Ns: 2, P99Ns: 3})
	f.Add("fleet.v1.report.edge.dev-1", good)
	f.Add("fleet.v1.report.edge.dev-2", good)
	f.Add("fleet.v1.report..", []byte{0x08})
	c := decoderOnly()
	f.Fuzz(func(t *testing.T, subject string, b []byte) {
		r, err := c.decodeReport(subject, b)
		if err != nil {
			if !errors.Is(err, errRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		if subject != fpv1.ReportSubject(r.GetClass(), r.GetDeviceId()) {
			t.Fatalf("accepted a report of %s/%s on %q", r.GetClass(), r.GetDeviceId(), subject)
		}
		if r.GetP95Ns() < 0 || !reportKinds[r.GetKind()] {
			t.Fatalf("accepted an impossible report %v", r)
		}
	})
}

package profiles

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"4MiB", 4 * MiB, false},
		{"4 MiB", 4 * MiB, false},
		{"4Mi", 4 * MiB, false},
		{"2GiB", 2 * GiB, false},
		{"512KiB", 512 * KiB, false},
		{"4MB", 4_000_000, false},
		{"4096", 4096, false},
		{"1.5GiB", 3 * GiB / 2, false},
		{"-4MiB", 0, true},
		{"four", 0, true},
		{"", 0, true},
		{"4XB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseByteSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSizeRoundTrip(t *testing.T) {
	for _, s := range []ByteSize{0, 1, 1023, KiB, 3 * KiB, 5 * MiB, 7 * GiB, 3*GiB + 1} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back ByteSize
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back != s {
			t.Errorf("round trip of %d via %s = %d", s, b, back)
		}
	}
	var n ByteSize
	if err := json.Unmarshal([]byte("2048"), &n); err != nil || n != 2*KiB {
		t.Errorf("json number 2048 = %d, %v; want 2048", n, err)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("35ms")); err != nil || d.D() != 35*time.Millisecond {
		t.Fatalf("35ms = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("35")); err == nil {
		t.Errorf("35 without unit parsed as %v, want an error", d)
	}
	b, _ := Duration(1500 * time.Microsecond).MarshalText()
	if string(b) != "1.5ms" {
		t.Errorf("MarshalText = %s, want 1.5ms", b)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "edge-avx2", "0", "dev-01"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a.b", "a*", "a>b", "a b", "a/b", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", bad)
		}
	}
	if got := SanitizeName("Pi-4.Local_Lab"); got != "pi-4-local-lab" {
		t.Errorf("SanitizeName = %q, want pi-4-local-lab", got)
	}
	if got := SanitizeName("..."); got != "" {
		t.Errorf("SanitizeName(...) = %q, want empty", got)
	}
}

func TestHardwareProfileValidate(t *testing.T) {
	good := HardwareProfile{Arch: "amd64", Cores: 2, SIMDFlags: []string{"avx2"}, Labels: map[string]string{"site": "lab"}}
	if err := good.Validate("profile"); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	bad := HardwareProfile{Cores: 0, Threads: -1, CPUQuota: -1, SIMDFlags: []string{""}, CPUModel: string(make([]byte, 300)),
		Labels: map[string]string{"bad key": "v", "ok": "white space"}}
	err := bad.Validate("profile")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Validate(bad) = %v, want an ErrorList", err)
	}
	want := []string{"profile.arch", "profile.cores", "profile.threads", "profile.cpuQuota", "profile.cpuModel", "profile.simdFlags[0]", "profile.labels.bad key", "profile.labels.ok"}
	if got := list.Fields(); !slices.Equal(got, want) {
		t.Errorf("fields = %q, want %q", got, want)
	}
	// Round trip through the wire message.
	back := ProfileFromProto(good.Proto())
	if back.Arch != good.Arch || back.Cores != good.Cores || !slices.Equal(back.SIMDFlags, good.SIMDFlags) || back.Labels["site"] != "lab" {
		t.Errorf("proto round trip = %+v, want %+v", back, good)
	}
	if z := ProfileFromProto(nil); z.Arch != "" || z.Cores != 0 {
		t.Errorf("ProfileFromProto(nil) = %+v", z)
	}
}

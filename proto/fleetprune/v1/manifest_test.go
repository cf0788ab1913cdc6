package fleetprunev1

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func testManifest() *VariantManifest {
	return &VariantManifest{
		VariantId:  "lenet-edge-1",
		Class:      "edge",
		Model:      "lenet",
		Sha256:     strings.Repeat("ab", 32),
		SizeBytes:  1234,
		ObjectName: strings.Repeat("ab", 32),
		InputShape: []int64{1, 28, 28},
		ProbeSeed:  7,
	}
}

func TestSignVerifyManifestRoundTrip(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := testManifest()
	s, err := SignManifest(priv, want)
	if err != nil {
		t.Fatalf("SignManifest: %v", err)
	}
	// Through the wire and back, as an agent receives it.
	b, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got SignedManifest
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	m, err := VerifyManifest(pub, &got)
	if err != nil {
		t.Fatalf("VerifyManifest: %v", err)
	}
	if !proto.Equal(m, want) {
		t.Errorf("VerifyManifest = %v, want %v", m, want)
	}
}

func TestVerifyManifestRejects(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	good, err := SignManifest(priv, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	tampered := proto.Clone(good).(*SignedManifest)
	tampered.Manifest[len(tampered.Manifest)-1] ^= 1
	byOther, _ := SignManifest(otherPriv, testManifest())
	flipped := proto.Clone(good).(*SignedManifest)
	flipped.Signature[0] ^= 0x80
	// A validly signed manifest whose bytes are not a VariantManifest.
	garbage := []byte{0xff, 0xff, 0xff}
	signedGarbage := &SignedManifest{Manifest: garbage, Signature: ed25519.Sign(priv, garbage)}
	// A validly signed manifest with a bad field.
	bad := testManifest()
	bad.Sha256 = "xyz"
	badBytes, _ := proto.Marshal(bad)
	signedBad := &SignedManifest{Manifest: badBytes, Signature: ed25519.Sign(priv, badBytes)}

	tests := []struct {
		name string
		pub  ed25519.PublicKey
		s    *SignedManifest
		want error
	}{
		{"tampered manifest", pub, tampered, ErrBadSignature},
		{"signed by another key", pub, byOther, ErrBadSignature},
		{"flipped signature", pub, flipped, ErrBadSignature},
		{"wrong public key", otherPub, good, ErrBadSignature},
		{"nil", pub, nil, ErrMalformedManifest},
		{"empty", pub, &SignedManifest{}, ErrMalformedManifest},
		{"short signature", pub, &SignedManifest{Manifest: good.Manifest, Signature: good.Signature[:10]}, ErrMalformedManifest},
		{"short key", pub[:5], good, ErrMalformedManifest},
		{"oversized", pub, &SignedManifest{Manifest: make([]byte, MaxManifestBytes+1), Signature: good.Signature}, ErrMalformedManifest},
		{"signed garbage", pub, signedGarbage, ErrMalformedManifest},
		{"signed bad field", pub, signedBad, ErrMalformedManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := VerifyManifest(tt.pub, tt.s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyManifest err = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("VerifyManifest returned a manifest with an error: %v", m)
			}
		})
	}
}

func TestSignManifestValidates(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name   string
		mutate func(*VariantManifest)
	}{
		{"no variant id", func(m *VariantManifest) { m.VariantId = "" }},
		{"short sha", func(m *VariantManifest) { m.Sha256 = "abc" }},
		{"upper-case sha", func(m *VariantManifest) { m.Sha256 = strings.Repeat("AB", 32) }},
		{"no object", func(m *VariantManifest) { m.ObjectName = "" }},
		{"zero dim", func(m *VariantManifest) { m.InputShape = []int64{1, 0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			tt.mutate(m)
			if _, err := SignManifest(priv, m); !errors.Is(err, ErrMalformedManifest) {
				t.Errorf("SignManifest err = %v, want ErrMalformedManifest", err)
			}
		})
	}
	if _, err := SignManifest(priv[:3], testManifest()); !errors.Is(err, ErrMalformedManifest) {
		t.Errorf("SignManifest with short key err = %v, want ErrMalformedManifest", err)
	}
}

func FuzzVerifyManifest(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	good, _ := SignManifest(priv, testManifest())
	b, _ := proto.Marshal(good)
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s SignedManifest
		if err := proto.Unmarshal(data, &s); err != nil {
			return
		}
		m, err := VerifyManifest(pub, &s)
		if err == nil {
			if vErr := ValidateManifest(m); vErr != nil {
				t.Fatalf("verified manifest fails validation: %v", vErr)
			}
		}
	})
}

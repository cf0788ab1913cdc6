package fleetprunev1

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Sentinel errors of manifest signing and verification.
var (
	// ErrBadSignature means the manifest's ed25519 signature does not verify against
	// the coordinator's public key: the manifest was tampered with or signed by
	// another key.
	ErrBadSignature = errors.New("manifest: bad signature")
	// ErrMalformedManifest means the signed manifest, its signature, the key or the
	// manifest's fields are missing or not well formed.
	ErrMalformedManifest = errors.New("manifest: malformed")
)

// MaxManifestBytes bounds the serialized manifest an agent will decode.
const MaxManifestBytes = 64 << 10

// SignManifest validates m, serializes it deterministically and signs the bytes with
// priv. It returns ErrMalformedManifest if m or priv is unusable.
func SignManifest(priv ed25519.PrivateKey, m *VariantManifest) (*SignedManifest, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrMalformedManifest, len(priv), ed25519.PrivateKeySize)
	}
	if err := ValidateManifest(m); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrMalformedManifest, err)
	}
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedManifest, len(b), MaxManifestBytes)
	}
	return &SignedManifest{Manifest: b, Signature: ed25519.Sign(priv, b)}, nil
}

// VerifyManifest checks the signature of s against pub and returns the decoded,
// validated manifest. It returns ErrBadSignature when the signature does not verify
// and ErrMalformedManifest when s, pub or the manifest is not well formed. The
// signature is checked before the manifest bytes are decoded.
func VerifyManifest(pub ed25519.PublicKey, s *SignedManifest) (*VariantManifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrMalformedManifest, len(pub), ed25519.PublicKeySize)
	}
	if s == nil {
		return nil, fmt.Errorf("%w: no signed manifest", ErrMalformedManifest)
	}
	if len(s.GetManifest()) == 0 || len(s.GetManifest()) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: manifest is %d bytes, want 1..%d", ErrMalformedManifest, len(s.GetManifest()), MaxManifestBytes)
	}
	if len(s.GetSignature()) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformedManifest, len(s.GetSignature()), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, s.GetManifest(), s.GetSignature()) {
		return nil, ErrBadSignature
	}
	m := &VariantManifest{}
	if err := proto.Unmarshal(s.GetManifest(), m); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrMalformedManifest, err)
	}
	if err := ValidateManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// ValidateManifest checks the fields an agent relies on: a variant id, a 64-digit
// lower-case hex SHA-256, an object name and an input shape of positive dimensions. It returns
// ErrMalformedManifest naming the first bad field.
func ValidateManifest(m *VariantManifest) error {
	if m == nil {
		return fmt.Errorf("%w: no manifest", ErrMalformedManifest)
	}
	if m.GetVariantId() == "" {
		return fmt.Errorf("%w: variant_id is empty", ErrMalformedManifest)
	}
	if len(m.GetSha256()) != 64 {
		return fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrMalformedManifest, m.GetSha256())
	}
	if _, err := hex.DecodeString(m.GetSha256()); err != nil || strings.ToLower(m.GetSha256()) != m.GetSha256() {
		return fmt.Errorf("%w: sha256 %q is not lower-case hex", ErrMalformedManifest, m.GetSha256())
	}
	if m.GetObjectName() == "" {
		return fmt.Errorf("%w: object_name is empty", ErrMalformedManifest)
	}
	for i, d := range m.GetInputShape() {
		if d <= 0 {
			return fmt.Errorf("%w: input_shape[%d] = %d, want > 0", ErrMalformedManifest, i, d)
		}
	}
	return nil
}

package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
)

// Limits on a model.
const (
	// MaxInputRank is the largest rank of a model's per-sample input shape.
	MaxInputRank = 8
)

// Model is a base model registered with the fleet. Its ONNX bytes live in the NATS
// object store under their SHA-256; etcd holds only the digest.
type Model struct {
	// Name is the model's name: [a-z0-9-], at most MaxNameLen characters.
	Name string `json:"name"`
	// Digest is the hex SHA-256 of the model's ONNX bytes.
	Digest string `json:"digest"`
	// Source is where the ONNX file was read from (a path relative to the fleet
	// document, or a URL); informational once Digest is set.
	Source string `json:"source,omitempty"`
	// Dataset names the data the model was trained on and is evaluated with, such
	// as "mnist" or "fashion-mnist".
	Dataset string `json:"dataset"`
	// Arch names the architecture, such as "lenet5".
	Arch string `json:"arch,omitempty"`
	// InputShape is the per-sample input shape (batch excluded), such as [1, 28, 28].
	InputShape []int64 `json:"inputShape,omitempty"`
	// Accuracy is the base model's top-1 test accuracy in percent (0 to 100); 0 means
	// not measured yet.
	Accuracy float64 `json:"accuracy,omitempty"`
	// SizeBytes is the size of the ONNX bytes; 0 means unknown.
	SizeBytes ByteSize `json:"sizeBytes,omitempty"`
}

// Digest returns the hex SHA-256 of b, as Model.Digest holds it.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ValidDigest reports whether d is a lower-case hex SHA-256.
func ValidDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate checks the model on its own; paths start at path.
func (m Model) Validate(path string) error {
	var e errs
	m.validate(&e, path, nil, true)
	return e.err()
}

// validate checks m; needDigest is false for a fleet document whose tool fills the
// digest in from Source.
func (m Model) validate(e *errs, path string, lines *lineMap, needDigest bool) {
	if err := ValidateName(m.Name); err != nil {
		e.add(join(path, "name"), lines.at(join(path, "name")), "%v", err)
	}
	switch {
	case m.Digest == "" && (needDigest || m.Source == ""):
		e.add(join(path, "digest"), lines.at(join(path, "digest")), "must be set (hex SHA-256 of the ONNX bytes), or give source so it can be computed")
	case m.Digest != "" && !ValidDigest(m.Digest):
		e.add(join(path, "digest"), lines.at(join(path, "digest")), "%q is not a lower-case hex SHA-256 (64 characters)", truncate(m.Digest, 70))
	}
	if len(m.Source) > 4096 {
		e.add(join(path, "source"), lines.at(join(path, "source")), "is %d characters long, at most 4096 allowed", len(m.Source))
	}
	if m.Dataset == "" {
		e.add(join(path, "dataset"), lines.at(join(path, "dataset")), "must name the dataset, such as mnist or fashion-mnist")
	} else if err := ValidateName(m.Dataset); err != nil {
		e.add(join(path, "dataset"), lines.at(join(path, "dataset")), "%v", err)
	}
	if len(m.Arch) > MaxNameLen {
		e.add(join(path, "arch"), lines.at(join(path, "arch")), "is %d characters long, at most %d allowed", len(m.Arch), MaxNameLen)
	}
	if len(m.InputShape) > MaxInputRank {
		e.add(join(path, "inputShape"), lines.at(join(path, "inputShape")), "rank %d, at most %d allowed", len(m.InputShape), MaxInputRank)
	}
	for i, d := range m.InputShape {
		if d < 1 || d > 1<<20 {
			p := index(join(path, "inputShape"), i)
			e.add(p, lines.at(p), "must be between 1 and %d, got %d", 1<<20, d)
		}
	}
	if a := m.Accuracy; math.IsNaN(a) || a < 0 || a > 100 {
		e.add(join(path, "accuracy"), lines.at(join(path, "accuracy")), "must be between 0 and 100 percent, got %v", a)
	}
}

package profiles

import "time"

// Device is a registered device as etcd holds it under devices/<id>. Presence is kept
// apart, under a lease (see Presence).
type Device struct {
	// ID is the device's name: [a-z0-9-], at most MaxNameLen characters.
	ID      string          `json:"id"`
	Profile HardwareProfile `json:"profile"`
	// Class is the class the device was placed in; "" when no class matches.
	Class            string `json:"class"`
	InstalledVariant string `json:"installedVariant,omitempty"`
	PreviousVariant  string `json:"previousVariant,omitempty"`
	AgentVersion     string `json:"agentVersion,omitempty"`
	// RegisteredAt is when the device first registered.
	RegisteredAt time.Time `json:"registeredAt"`
	// LastSeen is the time of the last registration, heartbeat or report written.
	LastSeen   time.Time      `json:"lastSeen"`
	LastReport *ReportSummary `json:"lastReport,omitempty"`
}

// ReportSummary is the gist of a device's latest benchmark report.
type ReportSummary struct {
	Kind            string    `json:"kind"`
	VariantID       string    `json:"variantId"`
	OK              bool      `json:"ok"`
	Error           string    `json:"error,omitempty"`
	P50             Duration  `json:"p50"`
	P95             Duration  `json:"p95"`
	P99             Duration  `json:"p99"`
	PeakRSS         ByteSize  `json:"peakRss"`
	InferenceErrors int       `json:"inferenceErrors,omitempty"`
	ParityOK        bool      `json:"parityOk"`
	At              time.Time `json:"at"`
}

// Validate checks a device that came from outside; paths start at path.
func (d Device) Validate(path string) error {
	var e errs
	if err := ValidateName(d.ID); err != nil {
		e.add(join(path, "id"), 0, "%v", err)
	}
	if d.Class != "" {
		if err := ValidateName(d.Class); err != nil {
			e.add(join(path, "class"), 0, "%v", err)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"installedVariant", d.InstalledVariant}, {"previousVariant", d.PreviousVariant}, {"agentVersion", d.AgentVersion},
	} {
		if len(f.value) > 128 {
			e.add(join(path, f.name), 0, "is %d bytes long, at most 128 allowed", len(f.value))
		}
	}
	d.Profile.validate(&e, join(path, "profile"))
	return e.err()
}

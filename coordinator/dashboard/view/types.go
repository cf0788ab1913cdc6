package view

import (
	"encoding/json"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
)

// Presence states of a device.
const (
	PresenceLive  = "live"
	PresenceStale = "stale"
)

// Status of a class as the dashboard shows it.
const (
	StatusUntuned    = "untuned"    // no tuning run yet
	StatusWaiting    = "waiting"    // tuning waits for a device in the class
	StatusTuning     = "tuning"     // a tuning run is in progress
	StatusMet        = "met"        // a variant meets the SLO
	StatusInfeasible = "infeasible" // no variant can meet the SLO
)

// Overview is the whole fleet at one etcd revision.
type Overview struct {
	Revision    int64         `json:"revision"`
	GeneratedAt time.Time     `json:"generatedAt"`
	Classes     []ClassView   `json:"classes"`
	Devices     []DeviceView  `json:"devices"`
	Rollouts    []RolloutView `json:"rollouts"`
	Models      []string      `json:"models"`
}

// ClassView is a class with its SLO, device counts and tuning status.
type ClassView struct {
	profiles.DeviceClass
	SLOP95Ms     float64 `json:"sloP95Ms"`
	Devices      int     `json:"devices"`
	LiveDevices  int     `json:"liveDevices"`
	StaleDevices int     `json:"staleDevices"`
	// Status is one of the Status constants.
	Status string         `json:"status"`
	Tuning *TuningSummary `json:"tuning,omitempty"`
}

// TuningSummary is the head of a class's tuning state: where it stands and why.
type TuningSummary struct {
	Generation int          `json:"generation"`
	Phase      tuning.Phase `json:"phase"`
	Message    string       `json:"message,omitempty"`
	Verdict    string       `json:"verdict,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Accepted   string       `json:"accepted,omitempty"`
	// AcceptedP95Ms and AcceptedAccuracyDrop are what the probe cohort measured of
	// the accepted variant.
	AcceptedP95Ms        float64   `json:"acceptedP95Ms,omitempty"`
	AcceptedAccuracyDrop float64   `json:"acceptedAccuracyDrop,omitempty"`
	RetuneReason         string    `json:"retuneReason,omitempty"`
	Iterations           int       `json:"iterations"`
	Pending              string    `json:"pending,omitempty"`
	UpdatedAt            time.Time `json:"updatedAt"`
}

// DeviceView is a device with its presence, installed variant and last report.
type DeviceView struct {
	ID               string                   `json:"id"`
	Class            string                   `json:"class"`
	Profile          profiles.HardwareProfile `json:"profile"`
	Presence         string                   `json:"presence"`
	LastSeen         time.Time                `json:"lastSeen"`
	InstalledVariant string                   `json:"installedVariant,omitempty"`
	PreviousVariant  string                   `json:"previousVariant,omitempty"`
	AgentVersion     string                   `json:"agentVersion,omitempty"`
	RegisteredAt     time.Time                `json:"registeredAt"`
	LastReport       *ReportView              `json:"lastReport,omitempty"`
	ReportsApplied   int64                    `json:"reportsApplied"`
}

// ReportView is the part of a device's last applied report the dashboard shows.
type ReportView struct {
	Kind            string    `json:"kind"`
	VariantID       string    `json:"variantId,omitempty"`
	OK              bool      `json:"ok"`
	Error           string    `json:"error,omitempty"`
	Runs            int32     `json:"runs,omitempty"`
	P50Ms           float64   `json:"p50Ms"`
	P95Ms           float64   `json:"p95Ms"`
	P99Ms           float64   `json:"p99Ms"`
	PeakRSSBytes    uint64    `json:"peakRssBytes,omitempty"`
	InferenceErrors int32     `json:"inferenceErrors,omitempty"`
	RolloutID       string    `json:"rolloutId,omitempty"`
	Stage           int32     `json:"stage,omitempty"`
	Seq             uint64    `json:"seq"`
	MeasuredAt      time.Time `json:"measuredAt,omitzero"`
}

// TuningView is a class's SLO, its full tuning state and the trials as points of
// accuracy against measured p95.
type TuningView struct {
	Class string       `json:"class"`
	SLO   profiles.SLO `json:"slo"`
	// SLOP95Ms is SLO.P95Latency in milliseconds.
	SLOP95Ms float64 `json:"sloP95Ms"`
	// AccuracyFloor is the base accuracy minus the largest allowed drop (0 when the
	// base model is not measured yet).
	AccuracyFloor float64       `json:"accuracyFloor"`
	State         *tuning.State `json:"state"`
	Points        []ParetoPoint `json:"points"`
}

// ParetoPoint is one measured model of a tuning run.
type ParetoPoint struct {
	VariantID    string  `json:"variantId"`
	Generation   int     `json:"generation"`
	Iteration    int     `json:"iteration"`
	Budget       float64 `json:"budget"`
	P95Ms        float64 `json:"p95Ms"`
	Accuracy     float64 `json:"accuracy"`
	AccuracyDrop float64 `json:"accuracyDrop"`
	Sparsity     float64 `json:"sparsity"`
	MACs         int64   `json:"macs"`
	Params       int64   `json:"params"`
	ModelBytes   int64   `json:"modelBytes"`
	PeakMemory   int64   `json:"peakMemory"`
	Base         bool    `json:"base"`
	Accepted     bool    `json:"accepted"`
	// MeetsSLO says whether the point meets every limit of the SLO; Violation names
	// the first it misses.
	MeetsSLO  bool   `json:"meetsSlo"`
	Violation string `json:"violation,omitempty"`
	// Frontier marks points no other point beats on both accuracy and p95.
	Frontier bool `json:"frontier"`
}

// VariantView is a published variant without its manifest bytes, joined with what
// tuning measured of it.
type VariantView struct {
	Class     string       `json:"class"`
	ID        string       `json:"id"`
	Model     string       `json:"model,omitempty"`
	SHA256    string       `json:"sha256"`
	SizeBytes uint64       `json:"sizeBytes"`
	CreatedAt time.Time    `json:"createdAt"`
	Accepted  bool         `json:"accepted"`
	Trial     *ParetoPoint `json:"trial,omitempty"`
	// Devices counts the class's devices that run it now.
	Devices int `json:"devices"`
}

// ClassReport is everything the report of a class shows, read at one revision.
type ClassReport struct {
	Revision    int64               `json:"revision"`
	GeneratedAt time.Time           `json:"generatedAt"`
	Class       ClassView           `json:"class"`
	Tuning      TuningView          `json:"tuning"`
	Sensitivity *sensitivity.Curves `json:"sensitivity,omitempty"`
	Devices     []DeviceView        `json:"devices"`
	Variants    []VariantView       `json:"variants"`
	Rollouts    []RolloutView       `json:"rollouts"`
}

// rawVariant is the coordinator's variants/<class>/<variant> record (see
// coordinator.Variant); it is decoded here without importing the coordinator.
type rawVariant struct {
	Class     string          `json:"class"`
	ID        string          `json:"id"`
	Model     string          `json:"model"`
	SHA256    string          `json:"sha256"`
	SizeBytes uint64          `json:"size_bytes"`
	CreatedAt time.Time       `json:"created_at"`
	Manifest  json.RawMessage `json:"-"`
}

// rawPresence decodes both presence records in use: the coordinator's heartbeat time
// (coordinator.Presence) and the profiles package's lease record.
type rawPresence struct {
	LastSeen         time.Time `json:"last_seen"`
	InstalledVariant string    `json:"installed_variant"`
	Since            time.Time `json:"since"`
	Lease            int64     `json:"lease"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

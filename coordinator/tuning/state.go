package tuning

import "time"

// Phase is where a class's tuning run stands.
type Phase string

// Phases of a tuning run, in the order a run goes through them.
const (
	PhaseWaitingDevices Phase = "waiting-devices" // no present device in the class
	PhaseMeasuringBase  Phase = "measuring-base"  // probe cohort benchmarks the base model
	PhaseBuilding       Phase = "building"        // pruning and fine-tuning a variant
	PhaseMeasuring      Phase = "measuring"       // probe cohort benchmarks a variant
	PhaseDone           Phase = "done"            // a verdict was reached
)

// State is a class's tuning run as stored in etcd under tuning/<class>. Every field is
// what the coordinator decided or measured; a standby that takes over reads it and
// continues without repeating a finished step.
type State struct {
	Class string `json:"class"`
	Model string `json:"model"`
	// Generation counts tuning runs of the class; a retune starts a new one.
	Generation int    `json:"generation"`
	Phase      Phase  `json:"phase"`
	Message    string `json:"message,omitempty"`
	// ProbeCohort are the devices that benchmark the base model and every variant.
	ProbeCohort []string `json:"probeCohort,omitempty"`
	Base        *Record  `json:"base,omitempty"`
	// Latency is the class's latency lookup table, fitted from per-layer times.
	Latency *LatencyModel `json:"latency,omitempty"`
	Trials  []Record      `json:"trials,omitempty"`
	// Pending is the variant being benchmarked now, if any.
	Pending  *Pending `json:"pending,omitempty"`
	Verdict  Verdict  `json:"verdict,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Accepted string   `json:"accepted,omitempty"` // variant ID of the accepted variant
	// RetuneReason says why the current generation started (drift, gate failure,
	// operator request), empty for the first run.
	RetuneReason string    `json:"retuneReason,omitempty"`
	StartedAt    time.Time `json:"startedAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
}

// Record is one built and measured model (the base or a variant) with what the
// dashboard and report show about it.
type Record struct {
	Trial
	Iteration int                `json:"iteration"`
	Keep      map[string]float64 `json:"keep,omitempty"` // kept share of each layer's MACs
	Params    int64              `json:"params"`
	Nonzero   int64              `json:"nonzero"`
	MACs      int64              `json:"macs"`
	Accuracy  float64            `json:"accuracy"` // percent on the test split
	Sparsity  float64            `json:"sparsity"` // 1 − params/base params
	// DeviceP95 is each probe device's measured p95.
	DeviceP95  map[string]time.Duration `json:"deviceP95,omitempty"`
	MeasuredAt time.Time                `json:"measuredAt"`
}

// Pending is a variant published and sent to the probe cohort, awaiting reports.
type Pending struct {
	VariantID string    `json:"variantId"`
	Budget    float64   `json:"budget"`
	Record    Record    `json:"record"`   // what is known before measuring
	Commands  []string  `json:"commands"` // command IDs sent, one per probe device
	SentAt    time.Time `json:"sentAt"`
	// Checksum is the output checksum the coordinator expects on the probe batch.
	Checksum string `json:"checksum,omitempty"`
	// Attempt counts sends to a silent cohort; command ids include it.
	Attempt int `json:"attempt"`
}

package profiles

// Prefix is the root of every fleetprune key in etcd.
const Prefix = "/fleetprune/v1/"

// Key prefixes under Prefix (see DESIGN.md, "State in etcd").
const (
	ClassPrefix    = Prefix + "classes/"
	DevicePrefix   = Prefix + "devices/"
	ModelPrefix    = Prefix + "models/"
	PresencePrefix = Prefix + "presence/"
	VariantPrefix  = Prefix + "variants/"
	RolloutPrefix  = Prefix + "rollouts/"
	TuningPrefix   = Prefix + "tuning/"
	// LeaderPrefix is the election prefix of the coordinators
	// (concurrency.NewElection(session, LeaderPrefix)).
	LeaderPrefix = Prefix + "leader"
)

// ClassKey is the key of a device class.
func ClassKey(name string) string { return ClassPrefix + name }

// DeviceKey is the key of a device's registration and profile.
func DeviceKey(id string) string { return DevicePrefix + id }

// ModelKey is the key of a base model.
func ModelKey(name string) string { return ModelPrefix + name }

// PresenceKey is the key, held under the device's lease, that says a device is present.
func PresenceKey(id string) string { return PresencePrefix + id }

// VariantKey is the key of one pruned variant of a class.
func VariantKey(class, variant string) string { return VariantPrefix + class + "/" + variant }

// RolloutKey is the key of one rollout of a class.
func RolloutKey(class, rollout string) string { return RolloutPrefix + class + "/" + rollout }

// TuningKey is the key of a class's tuning state.
func TuningKey(class string) string { return TuningPrefix + class }

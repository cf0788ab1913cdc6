package view

import "github.com/fleetprune/fleetprune/profiles"

// etcd prefixes read here that the profiles package does not name (see DESIGN.md,
// "State in etcd", and coordinator/keys.go).
const (
	// LastReportPrefix holds each device's last applied report (protobuf fpv1.Report).
	LastReportPrefix = profiles.Prefix + "lastreport/"
	// ReportsPrefix holds applied reports: reports/<class>/<device>/<seq>.
	ReportsPrefix = profiles.Prefix + "reports/"
	// SensitivityPrefix holds a base model's sensitivity curves as JSON:
	// sensitivity/<model>.
	SensitivityPrefix = profiles.Prefix + "sensitivity/"
)

// SensitivityKey is the key of a base model's sensitivity curves.
func SensitivityKey(model string) string { return SensitivityPrefix + model }

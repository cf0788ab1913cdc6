package fleetprunev1

import "fmt"

// NATS subjects, streams and buckets of the wire protocol (see DESIGN.md).
const (
	// SubjectRegister is the request/reply subject agents register on.
	SubjectRegister = "fleet.v1.register"
	// StreamCommands is the JetStream stream holding fleet.v1.cmd.>.
	StreamCommands = "FLEET_CMD"
	// StreamReports is the JetStream stream holding fleet.v1.report.>.
	StreamReports = "FLEET_REPORT"
	// BucketModels is the Object Store bucket of model artifacts, named by SHA-256.
	BucketModels = "fleet-models"
	// SubjectCommandsAll matches every command subject.
	SubjectCommandsAll = "fleet.v1.cmd.>"
	// SubjectReportsAll matches every report subject.
	SubjectReportsAll = "fleet.v1.report.>"
	// SubjectHeartbeatAll matches every heartbeat subject.
	SubjectHeartbeatAll = "fleet.v1.heartbeat.*"
)

// HeartbeatSubject is the presence subject of one device.
func HeartbeatSubject(device string) string { return "fleet.v1.heartbeat." + device }

// CommandSubject is the command subject of one device in a class.
func CommandSubject(class, device string) string {
	return fmt.Sprintf("fleet.v1.cmd.%s.%s", class, device)
}

// ClassCommandSubject is the subject of commands to every device of a class.
func ClassCommandSubject(class string) string { return fmt.Sprintf("fleet.v1.cmd.%s.all", class) }

// ReportSubject is the report subject of one device.
func ReportSubject(class, device string) string {
	return fmt.Sprintf("fleet.v1.report.%s.%s", class, device)
}

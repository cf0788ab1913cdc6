package coordinator

import (
	"fmt"

	"github.com/fleetprune/fleetprune/profiles"
)

// etcd keys the coordinator owns beside the profiles package's (see DESIGN.md).
const (
	// reportsPrefix holds applied reports: reports/<class>/<device>/<seq>.
	reportsPrefix = profiles.Prefix + "reports/"
	// reportSeqPrefix holds the last applied report seq per device:
	// reportseq/<device>.
	reportSeqPrefix = profiles.Prefix + "reportseq/"
	// lastReportPrefix holds each device's last applied report: lastreport/<device>.
	lastReportPrefix = profiles.Prefix + "lastreport/"
	// presencePrefix holds presence/<device> under the device's presence lease
	// (profiles.Presence): the key exists while the device is live.
	presencePrefix = profiles.PresencePrefix
)

// reportKey names an applied report. seq is zero-padded so keys sort by seq.
func reportKey(class, device string, seq uint64) string {
	return fmt.Sprintf("%s%s/%s/%020d", reportsPrefix, class, device, seq)
}

func seqValue(seq uint64) string { return fmt.Sprintf("%020d", seq) }

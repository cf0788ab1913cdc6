package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CFS periods, in microseconds, of the groups the agent creates. A short period
// spreads the throttling finely, so that a quota acts like a slower CPU on
// millisecond inferences instead of a CPU that stalls for tens of milliseconds; the
// long one serves quotas too small for a 1 ms slice of the short one.
const (
	cfsPeriodShort = 10000
	cfsPeriodLong  = 100000
	cfsMinQuota    = 1000
)

// ErrNoCgroupCPU means no writable cgroup CPU controller is available: the agent is
// not root, or the controller is not mounted or not delegated.
var ErrNoCgroupCPU = errors.New("cgroup: no writable cpu controller")

// cpuLimit is a cgroup whose members together get at most Quota cores of CPU time.
// The agent creates one per device and runs its benchmark worker process in it.
type cpuLimit struct {
	Dir     string
	Version int
	Quota   float64
}

// Isolation names how the limit is applied, for reports and logs.
func (l *cpuLimit) Isolation() string { return "cgroup-v" + strconv.Itoa(l.Version) }

// newCPULimit creates (or reuses) the cgroup fleetprune-<name> below this process's
// own group with a CPU quota of quota cores: the cgroup v1 cpu controller at
// /sys/fs/cgroup/cpu when it is writable, else cgroup v2 with cpu.max. It returns
// ErrNoCgroupCPU when neither can be used.
func newCPULimit(name string, quota float64) (*cpuLimit, error) {
	if quota <= 0 {
		return nil, fmt.Errorf("cgroup: quota %g cores, want > 0", quota)
	}
	cg := hostFS{root: "/"}.cgroups()
	period := int64(cfsPeriodShort)
	if quota*cfsPeriodShort < cfsMinQuota {
		period = cfsPeriodLong
	}
	quotaUS := max(int64(quota*float64(period)+0.5), cfsMinQuota)
	var errs []error
	if p, ok := cg.v1["cpu"]; ok {
		dir := filepath.Join("/sys/fs/cgroup/cpu", p, "fleetprune-"+name)
		err := setupV1(dir, quotaUS, period)
		if err == nil {
			return &cpuLimit{Dir: dir, Version: 1, Quota: quota}, nil
		}
		errs = append(errs, err)
	}
	if cg.hasV2 {
		for _, mnt := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
			ctrl, err := os.ReadFile(filepath.Join(mnt, cg.v2, "cgroup.controllers"))
			if err != nil || !strings.Contains(" "+strings.TrimSpace(string(ctrl))+" ", " cpu ") {
				continue
			}
			dir := filepath.Join(mnt, cg.v2, "fleetprune-"+name)
			err = setupV2(dir, quotaUS, period)
			if err == nil {
				return &cpuLimit{Dir: dir, Version: 2, Quota: quota}, nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil, ErrNoCgroupCPU
	}
	return nil, fmt.Errorf("%w: %w", ErrNoCgroupCPU, errors.Join(errs...))
}

func setupV1(dir string, quotaUS, period int64) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup v1: %w", err)
	}
	// A reused group may hold another pair; the kernel checks each write against
	// the other value, so lift the quota, set the period, then set the quota.
	if err := writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), "-1"); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.FormatInt(period, 10)); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(quotaUS, 10))
}

func setupV2(dir string, quotaUS, period int64) error {
	// The parent must hand the cpu controller down; this fails where the parent
	// holds processes itself (cgroup v2's no-internal-processes rule) unless the
	// group was delegated for it.
	_ = writeFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"), "+cpu")
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	return writeFile(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", quotaUS, period))
}

func writeFile(path, s string) error {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return fmt.Errorf("cgroup: write %s: %w", path, err)
	}
	return nil
}

// joinCgroup moves the calling process, all its threads, into the cgroup at dir.
func joinCgroup(dir string) error {
	return writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(os.Getpid()))
}

// Close removes the group. It fails while a process is still in it.
func (l *cpuLimit) Close() error {
	if err := os.Remove(l.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup: remove %s: %w", l.Dir, err)
	}
	return nil
}

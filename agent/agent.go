package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Agent is one fleetprune device agent over its own NATS connection. Create it with
// New and run it with Run.
type Agent struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cfg     config
	log     *slog.Logger
	id      string
	profile *fpv1.HardwareProfile
	store   *store
	seq     *seqCounter
	done    *doneLog
	met     *metrics

	// work serializes commands and periodic benchmarks: one benchmark at a time per
	// agent, and no install while a benchmark reads the store.
	work   sync.Mutex
	runner benchRunner

	mu         sync.Mutex
	class      string
	coordKey   ed25519.PublicKey
	hbInterval time.Duration
	stream     string
	// registeredAt is when the last accepted registration was sent: a new command
	// consumer starts there, so commands sent in reply to it are not missed.
	registeredAt time.Time

	reregister chan struct{}
}

// New returns an agent for the NATS connection nc, which it uses but does not close.
// It validates the options, opens the data dir (creating it), loads or makes the
// device id, and detects the hardware. It returns an error wrapping ErrConfig for an
// invalid option.
func New(nc *nats.Conn, opts ...Option) (*Agent, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", ErrConfig)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	id, err := loadDeviceID(cfg.dataDir, cfg.deviceID)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("agent: jetstream: %w", err)
	}
	st, err := openStore(cfg.dataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	seq, err := openSeq(filepath.Join(cfg.dataDir, "report-seq"))
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	done, err := openDone(filepath.Join(cfg.dataDir, "done-commands"))
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	met, err := newMetrics(cfg.registerer)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics: %w", err)
	}
	a := &Agent{
		nc: nc, js: js, cfg: cfg, id: id, store: st, seq: seq, done: done, met: met,
		log:        cfg.log.With("device", id),
		hbInterval: cfg.heartbeatInterval,
		stream:     fpv1.StreamCommands,
		reregister: make(chan struct{}, 1),
		runner:     inProcessRunner{},
	}
	a.profile = a.buildProfile()
	return a, nil
}

// buildProfile detects the hardware (unless given) and adds what the options say.
func (a *Agent) buildProfile() *fpv1.HardwareProfile {
	var p *fpv1.HardwareProfile
	if a.cfg.hardware != nil {
		p = proto.Clone(a.cfg.hardware).(*fpv1.HardwareProfile)
	} else {
		p = DetectHardware()
	}
	if len(a.cfg.labels) > 0 {
		p.Labels = map[string]string{}
		for k, v := range a.cfg.labels {
			p.Labels[k] = v
		}
	}
	threads := a.cfg.threads
	if threads == 0 {
		threads = int(max(p.GetCores(), 1))
		if a.cfg.cpuQuota > 0 {
			threads = min(threads, int(math.Ceil(a.cfg.cpuQuota)))
		}
	}
	p.Threads = int32(threads)
	if a.cfg.cpuQuota > 0 {
		p.CpuQuota = a.cfg.cpuQuota
	}
	return p
}

// ID returns the device id.
func (a *Agent) ID() string { return a.id }

// Profile returns a copy of the hardware profile the agent registers with.
func (a *Agent) Profile() *fpv1.HardwareProfile {
	return proto.Clone(a.profile).(*fpv1.HardwareProfile)
}

// Class returns the class of the last registration reply ("" before, or when no class
// matched).
func (a *Agent) Class() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.class
}

// InstalledVariant returns the id of the live variant, or "".
func (a *Agent) InstalledVariant() string {
	if v := a.store.Current(); v != nil {
		return v.VariantID
	}
	return ""
}

// InstalledModelPath returns the file of the live variant's ONNX bytes, or "".
func (a *Agent) InstalledModelPath() string {
	if v := a.store.Current(); v != nil {
		return a.store.modelPath(v.SHA256)
	}
	return ""
}

// Reregister asks a running agent to register again (as a message on its
// re-registration subject does).
func (a *Agent) Reregister() {
	select {
	case a.reregister <- struct{}{}:
	default:
	}
}

// Run registers the agent and serves until ctx ends: heartbeats, commands from its
// durable consumer and, if configured, periodic reports. It registers again when
// told on ReregisterSubject or SubjectReregisterAll and when the NATS connection
// reconnects (the coordinator may have restarted with the server). It returns nil
// when ctx ends, or an error when the CPU-limit setup fails in a way it cannot fall
// back from.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.setupRunner(); err != nil {
		return err
	}
	defer a.closeRunner()

	subs, err := a.subscribeReregister()
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	status := a.nc.StatusChanged(nats.CONNECTED)
	defer a.nc.RemoveStatusListener(status)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-status:
				if !ok {
					return
				}
				a.log.Info("NATS reconnected; registering again")
				a.Reregister()
			}
		}
	})

	for {
		if err := a.register(ctx); err != nil {
			return nil // ctx ended
		}
		sess, cancel := context.WithCancel(ctx)
		var swg sync.WaitGroup
		swg.Go(func() { a.heartbeats(sess) })
		swg.Go(func() { a.consumeCommands(sess) })
		if a.cfg.periodicInterval > 0 {
			swg.Go(func() { a.periodicReports(sess) })
		}
		select {
		case <-ctx.Done():
			cancel()
			swg.Wait()
			return nil
		case <-a.reregister:
			cancel()
			swg.Wait()
		}
	}
}

// setupRunner picks where benchmarks run: in a worker process in a cgroup when a
// CPU quota is set and a cgroup CPU controller is writable, in a worker process when
// one is configured, else in this process with thread limits only.
func (a *Agent) setupRunner() error {
	argv := a.cfg.workerArgv
	if a.cfg.cpuQuota > 0 {
		limit, err := newCPULimit(a.id, a.cfg.cpuQuota)
		if err != nil {
			a.log.Warn("no cgroup CPU limit available; benchmarks limited by threads only",
				"cpu_quota", a.cfg.cpuQuota, "threads", a.profile.GetThreads(), "err", err)
		} else {
			if len(argv) == 0 {
				exe, err := os.Executable()
				if err != nil {
					_ = limit.Close()
					return fmt.Errorf("agent: bench worker: %w", err)
				}
				argv = []string{exe, "agent", "bench-worker"}
			}
			a.runner = workerRunner{argv: argv, limit: limit}
			a.log.Info("benchmarks run in a worker process under a CPU quota",
				"cgroup", limit.Dir, "cpu_quota", a.cfg.cpuQuota, "threads", a.profile.GetThreads())
			return nil
		}
	}
	if len(argv) > 0 {
		a.runner = workerRunner{argv: argv}
	}
	return nil
}

func (a *Agent) closeRunner() {
	if w, ok := a.runner.(workerRunner); ok && w.limit != nil {
		if err := w.limit.Close(); err != nil {
			a.log.Warn("cgroup cleanup", "err", err)
		}
	}
}

// Re-registration subjects. A message on either makes agents register again, for
// example after the coordinator re-placed devices because classes changed. The
// payload is ignored.
const (
	// SubjectReregisterAll tells every agent to register again; each waits a random
	// delay up to ReregisterJitter first, so a fleet does not arrive at once.
	SubjectReregisterAll = "fleet.v1.reregister.all"
	// ReregisterJitter bounds the random delay before answering SubjectReregisterAll.
	ReregisterJitter = 2 * time.Second
)

// ReregisterSubject tells one device to register again.
func ReregisterSubject(device string) string { return "fleet.v1.reregister.dev." + device }

func (a *Agent) subscribeReregister() ([]*nats.Subscription, error) {
	one, err := a.nc.Subscribe(ReregisterSubject(a.id), func(*nats.Msg) { a.Reregister() })
	if err != nil {
		return nil, fmt.Errorf("agent: subscribe: %w", err)
	}
	all, err := a.nc.Subscribe(SubjectReregisterAll, func(*nats.Msg) {
		time.AfterFunc(randDuration(ReregisterJitter), a.Reregister)
	})
	if err != nil {
		_ = one.Unsubscribe()
		return nil, fmt.Errorf("agent: subscribe: %w", err)
	}
	return []*nats.Subscription{one, all}, nil
}

// loadDeviceID returns the configured id (storing it), the stored one, or a new one
// made from the hostname and a random suffix.
func loadDeviceID(dir, configured string) (string, error) {
	path := filepath.Join(dir, "device-id")
	if configured != "" {
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) != configured {
			if err := writeFileAtomic(path, []byte(configured+"\n"), 0o644); err != nil {
				return "", fmt.Errorf("agent: device id: %w", err)
			}
		}
		return configured, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !namePattern.MatchString(id) {
			return "", fmt.Errorf("agent: %s holds device id %q: want letters, digits, '_' or '-'; fix or remove it", path, id)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("agent: device id: %w", err)
	}
	host, _ := os.Hostname()
	host = regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(host, "-")
	host = strings.Trim(host, "-_")
	if len(host) > 48 {
		host = host[:48]
	}
	if host == "" {
		host = "device"
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	id := host + "-" + hex.EncodeToString(suffix[:])
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("agent: device id: %w", err)
	}
	return id, nil
}

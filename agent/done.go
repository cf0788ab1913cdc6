package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
)

// doneKeep is how many finished command ids an agent remembers.
const doneKeep = 256

// doneLog remembers, across restarts, the ids of the last commands whose reports this
// agent published. JetStream delivers a command again when its ack is lost (the agent
// stopped, or the connection dropped, between the report and the ack's confirmation),
// and a command carried out twice would report twice: a redelivered command whose id
// is here is acked again instead.
type doneLog struct {
	path string
	mu   sync.Mutex
	ids  []string
}

// openDone reads the ids kept in path (absent: none).
func openDone(path string) (*doneLog, error) {
	d := &doneLog{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d, nil
	case err != nil:
		return nil, fmt.Errorf("done commands: %w", err)
	}
	for _, id := range strings.Split(string(b), "\n") {
		if id != "" {
			d.ids = append(d.ids, id)
		}
	}
	if len(d.ids) > doneKeep {
		d.ids = d.ids[len(d.ids)-doneKeep:]
	}
	return d, nil
}

// Has reports whether the command id was done.
func (d *doneLog) Has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.ids, id)
}

// Add records the command id as done, on disk before it returns.
func (d *doneLog) Add(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := append(d.ids, id)
	if len(ids) > doneKeep {
		ids = ids[len(ids)-doneKeep:]
	}
	if err := writeFileAtomic(d.path, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("done commands: %w", err)
	}
	d.ids = ids
	return nil
}

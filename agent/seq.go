package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
)

// seqBlock is how many report sequence numbers are reserved on disk at a time, so
// that not every report costs an fsync; a restart skips the unused rest of a block.
const seqBlock = 64

// seqCounter hands out the agent's report sequence numbers: strictly increasing
// across restarts, because the file holds a ceiling above every number handed out.
type seqCounter struct {
	path     string
	mu       sync.Mutex
	next     uint64
	reserved uint64
}

// openSeq reads the ceiling in path (absent: 0) and reserves the next block.
func openSeq(path string) (*seqCounter, error) {
	var ceiling uint64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("seq: %w", err)
	default:
		ceiling, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seq: %s holds %q, want an unsigned integer; remove it only if no coordinator holds reports of this device", path, b)
		}
	}
	s := &seqCounter{path: path, next: ceiling + 1, reserved: ceiling}
	if err := s.reserve(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *seqCounter) reserve() error {
	r := s.reserved + seqBlock
	if err := writeFileAtomic(s.path, []byte(strconv.FormatUint(r, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("seq: %w", err)
	}
	s.reserved = r
	return nil
}

// Next returns the next sequence number.
func (s *seqCounter) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next > s.reserved {
		if err := s.reserve(); err != nil {
			return 0, err
		}
	}
	n := s.next
	s.next++
	return n, nil
}

//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dirLock is an exclusive lock on a data directory, held while a server runs there.
type dirLock struct{ f *os.File }

// lockDir takes the lock file path without waiting: a second server on the same data
// would otherwise block inside etcd's database open for ever.
func lockDir(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data is in use by another process (lock %s held); stop it or use another data dir", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() {
	if l == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}

//go:build !unix

package embedded

// dirLock is a no-op where flock is missing; etcd's own locks still apply.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) unlock() {}

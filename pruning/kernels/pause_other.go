//go:build !amd64 || purego

package kernels

// spinPause is a no-op where there is no PAUSE instruction to run: the helpers then
// poll as fast as they can, yielding every few polls as on amd64.
func spinPause(int) {}

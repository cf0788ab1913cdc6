//go:build amd64 && !purego

package kernels

// spinPause executes n PAUSE instructions (see pause_amd64.s).
//
//go:noescape
func spinPause(n int)

package graph

import (
	"github.com/fleetprune/fleetprune/pruning/kernels"
)

// gonumTile is the largest C tile (rows, columns) gonum's sgemm computes on the calling
// goroutine: it fans out to GOMAXPROCS worker goroutines from four 64×64 blocks of C,
// whatever the thread cap. For a convolution that is already spread over threads, or
// too small to be worth it, that fan-out only adds wake-ups (on a busy machine, waits for
// a core), so such GEMMs are issued tile by tile.
const gonumTileRows, gonumTileCols = 64, 192

// serialGemmTiles reports whether gemmSerial needs to tile: only gonum's sgemm fans
// out on its own; the packed kernel and plugged-in BLAS follow their own thresholds.
func serialGemmTiles() bool { return kernels.GonumGemm() }

// gemmSerial is kernels.Gemm computed tile by tile when tile is set, so that gonum's
// sgemm stays on the calling goroutine. Without transposed B, gonum sums each C
// element over k in the same order serial or parallel, so results are bitwise the
// same. With transposed B its serial path takes one dot product over all of k where
// the parallel one sums 64-long pieces, so those calls are left whole: the result
// must not depend on the thread count, which decides tile.
func gemmSerial(tile, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !tile || transB || (m <= gonumTileRows && n <= gonumTileCols) {
		kernels.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Equal tiles: 196 columns go as 98+98, not 192+4.
	tr, tc := evenTile(m, gonumTileRows), evenTile(n, gonumTileCols)
	for i0 := 0; i0 < m; i0 += tr {
		mi := min(tr, m-i0)
		var ai []float32
		if transA {
			ai = a[i0:]
		} else {
			ai = a[i0*lda:]
		}
		for j0 := 0; j0 < n; j0 += tc {
			nj := min(tc, n-j0)
			var bj []float32
			if transB {
				bj = b[j0*ldb:]
			} else {
				bj = b[j0:]
			}
			kernels.Gemm(transA, transB, mi, nj, k, alpha, ai, lda, bj, ldb, beta, c[i0*ldc+j0:], ldc)
		}
	}
}

// evenTile is the tile length that splits n into the fewest pieces of at most lim,
// all of about the same length.
func evenTile(n, lim int) int {
	pieces := (n + lim - 1) / lim
	if pieces <= 1 {
		return n + 1 // one piece; also keeps the loop step positive for n == 0
	}
	return (n + pieces - 1) / pieces
}

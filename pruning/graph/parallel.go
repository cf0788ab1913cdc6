package graph

import "sync"

// parallelFor calls fn(i) for i in [0, n), spread over up to threads goroutines. Each
// index runs exactly once, so results do not depend on the thread count as long as fn
// writes only to index-owned memory.
func parallelFor(threads, n int, fn func(i int)) {
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(threads)
	for t := 0; t < threads; t++ {
		go func(t int) {
			defer wg.Done()
			for i := t; i < n; i += threads {
				fn(i)
			}
		}(t)
	}
	wg.Wait()
}

package arrowio

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestGuardMutations: 4000 seeded random mutations (1-4 bytes each) of valid
// streams and files, read through the guard and Arrow from a sized reader
// and a pipe, and checked with Check: nothing panics, and the whole batch of
// reads allocates under 64 times the bytes read plus 1 MiB per input.
func TestGuardMutations(t *testing.T) {
	all, ends := testStream(t, 2)
	file := fileBytes(t)
	seeds := [][]byte{all, all[:ends[0]], all[:ends[1]+3], file}
	rng := rand.New(rand.NewPCG(1, 2))
	var total uint64
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	const n = 4000
	for i := 0; i < n; i++ {
		in := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for k := rng.IntN(4) + 1; k > 0; k-- {
			in[rng.IntN(len(in))] = byte(rng.IntN(256))
		}
		total += uint64(len(in))
		readAll(bytes.NewReader(in))
		readAll(pipe{bytes.NewReader(in)})
		checkAndReadFile(in)
	}
	runtime.ReadMemStats(&b)
	if got, limit := b.TotalAlloc-a.TotalAlloc, 64*total+n<<20; got > limit {
		t.Errorf("%d mutated inputs (%d bytes) allocated %d bytes", n, total, got)
	}
}

package runfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// pipe hides the reader's size, as a pipe does.
type pipe struct{ r io.Reader }

func (p pipe) Read(b []byte) (int, error) { return p.r.Read(b) }

// drain reads every batch of a with its rows and returns the number of
// batches and the error.
func drain(a *AnyReader) (int, error) {
	n := 0
	for {
		var ok bool
		switch {
		case a.Steps != nil:
			ok = a.Steps.Next()
		case a.Pairs != nil:
			ok = a.Pairs.Next()
		case a.Grads != nil:
			ok = a.Grads.Next()
		case a.Attrib != nil:
			ok = a.Attrib.Next()
		}
		if !ok {
			break
		}
		n++
	}
	switch {
	case a.Steps != nil:
		return n, a.Steps.Err()
	case a.Pairs != nil:
		return n, a.Pairs.Err()
	case a.Grads != nil:
		return n, a.Grads.Err()
	}
	return n, a.Attrib.Err()
}

// TestTruncatedEveryCut cuts each format's stream at every byte (grads: at
// every 7th byte and every boundary) and reads it from a sized reader, a pipe
// and, at the batch boundaries, a real file: the complete steps before the
// cut are delivered and the error wraps ErrTruncated, whether the cut is
// inside a batch, inside the end-of-stream marker or exactly between two
// batches.
func TestTruncatedEveryCut(t *testing.T) {
	m := testMeta()
	dir := t.TempDir()
	cases := 0
	for _, format := range []string{FormatSteps, FormatPairs, FormatGrads} {
		all, ends := encode(t, format, m, 3, true)
		stride := 1
		if len(all) > 20000 {
			stride = 7
		}
		boundary := map[int]bool{}
		for _, e := range ends {
			boundary[e] = true
		}
		for cut := 1; cut < len(all); cut++ {
			if cut%stride != 0 && !boundary[cut] {
				continue
			}
			complete := 0
			for _, e := range ends {
				if e <= cut {
					complete++
				}
			}
			srcs := []io.Reader{bytes.NewReader(all[:cut]), pipe{bytes.NewReader(all[:cut])}}
			if boundary[cut] {
				p := filepath.Join(dir, "cut.arrows")
				os.WriteFile(p, all[:cut], 0o644)
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				srcs = append(srcs, f)
			}
			for k, src := range srcs {
				cases++
				a, err := OpenAny(src, "cut")
				if err != nil {
					if complete > 0 || !strings.Contains(err.Error(), "cut:") {
						t.Fatalf("%s cut %d source %d: open: %v", format, cut, k, err)
					}
					continue // the cut is inside the schema
				}
				n, err := drain(a)
				a.Release()
				if n != complete || !errors.Is(err, ErrTruncated) {
					t.Fatalf("%s cut %d of %d source %d: %d steps (want %d), err %v", format, cut, len(all), k, n, complete, err)
				}
			}
		}
	}
	t.Logf("%d truncated reads", cases)
}

// junkInputs are not train streams; each must be refused, allocating little.
func junkInputs(t *testing.T) map[string][]byte {
	all, ends := encode(t, FormatPairs, testMeta(), 2, true)
	return map[string][]byte{
		"hello":           []byte("hello\n"),
		"hell":            []byte("hell"),
		"max length":      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"legacy length":   {0xfe, 0xff, 0xff, 0x7f, 0, 0, 0, 0},
		"tsv":             []byte("step\tkind\tloss\n0\ttrain\t0.69\n"),
		"json":            []byte(`{"format": "entangle.pairs"}`),
		"batch as schema": append(append([]byte(nil), all[ends[0]:ends[1]]...), all[:ends[0]]...),
	}
}

// TestJunkAllocatesLittle: OpenAny on a non-Arrow input (the bug: 1.8 GB
// allocated for "hello\n", twice per input in gradstat) allocates under 256
// KiB, from a sized reader and from a pipe.
func TestJunkAllocatesLittle(t *testing.T) {
	for name, in := range junkInputs(t) {
		for _, pipeMode := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(in)
			if pipeMode {
				r = pipe{r}
			}
			var a, b runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&a)
			_, err := OpenAny(r, "junk")
			runtime.ReadMemStats(&b)
			if err == nil || !strings.HasPrefix(err.Error(), "junk: ") {
				t.Errorf("%s (pipe %v): err %v", name, pipeMode, err)
			}
			if n := b.TotalAlloc - a.TotalAlloc; n > 256<<10 {
				t.Errorf("%s (pipe %v): allocated %d bytes", name, pipeMode, n)
			}
		}
	}
}

// FuzzOpenAny: arbitrary bytes, the schema included, through OpenAny and
// every batch: no panic, allocation within 4 MiB plus 64 times the input, and
// an accepted complete stream reads the same a second time.
func FuzzOpenAny(f *testing.F) {
	m := testMeta()
	for _, format := range []string{FormatSteps, FormatPairs, FormatGrads} {
		all, ends := encode(&testing.T{}, format, m, 2, true)
		f.Add(all)
		f.Add(all[:ends[0]])
		f.Add(all[:ends[0]/2])
	}
	f.Add([]byte("hello\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		n1, err1 := -1, error(nil)
		if r, err := OpenAny(bytes.NewReader(in), "fuzz", WithMaxBuffer(fuzzMaxBuffer)); err == nil {
			n1, err1 = drain(r)
			r.Release()
		}
		runtime.ReadMemStats(&b)
		if n, limit := b.TotalAlloc-a.TotalAlloc, uint64(4<<20+64*len(in)); n > limit {
			t.Fatalf("%d-byte input allocated %d bytes", len(in), n)
		}
		if n1 >= 0 && err1 == nil {
			r, err := OpenAny(pipe{bytes.NewReader(in)}, "again")
			if err != nil {
				t.Fatalf("second read: %v", err)
			}
			if n2, err2 := drain(r); n2 != n1 || err2 != nil {
				t.Fatalf("second read: %d batches (%v), first %d", n2, err2, n1)
			}
			r.Release()
		}
	})
}

// TestMutationsAllocateLittle: 1000 seeded random mutations per format (bytes
// and 32- and 64-bit words set to extreme values, anywhere: the schema too)
// read through OpenAny and every batch: none panics, and each allocates at
// most 4 MiB plus 64 times its size.
func TestMutationsAllocateLittle(t *testing.T) {
	m := testMeta()
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []uint64{0, 1, 8, 1 << 20, 1 << 27, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 40, 1<<63 - 1}
	for _, format := range []string{FormatSteps, FormatPairs, FormatGrads} {
		all, _ := encode(t, format, m, 2, true)
		for i := 0; i < 1000; i++ {
			in := append([]byte(nil), all...)
			for k := rng.IntN(3) + 1; k > 0; k-- {
				switch p := rng.IntN(len(in) - 8); rng.IntN(3) {
				case 0:
					in[p] = byte(rng.IntN(256))
				case 1:
					binary.LittleEndian.PutUint32(in[p:], uint32(vals[rng.IntN(len(vals))]))
				case 2:
					binary.LittleEndian.PutUint64(in[p:], -vals[rng.IntN(len(vals))])
				}
			}
			var a, b runtime.MemStats
			runtime.ReadMemStats(&a)
			if r, err := OpenAny(bytes.NewReader(in), "mutated"); err == nil {
				drain(r)
				r.Release()
			}
			runtime.ReadMemStats(&b)
			if n, limit := b.TotalAlloc-a.TotalAlloc, uint64(4<<20+64*len(in)); n > limit {
				t.Fatalf("%s mutation %d: a %d-byte input allocated %d bytes", format, i, len(in), n)
			}
		}
	}
}

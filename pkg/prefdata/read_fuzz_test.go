package prefdata

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
)

// seekBuffer is an io.WriteSeeker over a growing byte slice.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	s.b = append(s.b[:s.pos], p...)
	s.pos = len(s.b)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 1:
		off += int64(s.pos)
	case 2:
		off += int64(len(s.b))
	}
	s.pos = int(off)
	return off, nil
}

// FuzzReadAny: arbitrary bytes — the schema and the IPC file footer
// included, which FuzzRead leaves alone — through Read: no panic, an
// allocation within 4 MiB plus 64 times the input (the Arrow checks of
// pkg/arrowio refuse every length the input does not back), and an accepted
// dataset re-encodes and reads back to the same examples.
func FuzzReadAny(f *testing.F) {
	c := DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 1, 3, 1
	d, _ := Generate(c)
	var s bytes.Buffer
	WriteStream(&s, d)
	f.Add(s.Bytes())
	var file seekBuffer
	WriteFile(&file, d)
	f.Add(file.b)
	f.Add([]byte("hello\n"))
	f.Add([]byte("ARROW1\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		got, err := Read(bytes.NewReader(in), "fuzz")
		runtime.ReadMemStats(&b)
		if n, limit := b.TotalAlloc-a.TotalAlloc, uint64(4<<20+64*len(in)); n > limit {
			t.Fatalf("%d-byte input allocated %d bytes", len(in), n)
		}
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := WriteStream(&again, got); err != nil {
			t.Fatal(err)
		}
		back, err := Read(&again, "again")
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		sameExamples(t, got.Examples, back.Examples)
	})
}

// TestReadMutations: 3000 seeded random mutations of a dataset stream (bytes
// and 32- and 64-bit words set to extreme values) are read with Read: each
// allocates at most 4 MiB plus 64 times its size (a corrupt list offset once
// made one 4 KB input allocate 142 MB).
func TestReadMutations(t *testing.T) {
	c := DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 1, 3, 1
	d, _ := Generate(c)
	var s bytes.Buffer
	WriteStream(&s, d)
	var file seekBuffer
	WriteFile(&file, d)
	seeds := [][]byte{s.Bytes(), file.b}
	rng := rand.New(rand.NewPCG(7, 9))
	vals := []uint64{0, 1, 8, 1 << 20, 1 << 27, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 40, 1<<63 - 1}
	for i := 0; i < 3000; i++ {
		in := append([]byte(nil), seeds[i%2]...)
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
		Read(bytes.NewReader(in), "mutated")
		runtime.ReadMemStats(&b)
		if n, limit := b.TotalAlloc-a.TotalAlloc, uint64(4<<20+64*len(in)); n > limit {
			t.Fatalf("mutation %d: a %d-byte input allocated %d bytes", i, len(in), n)
		}
	}
}

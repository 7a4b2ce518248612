package gradstat

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/ipc"

	"entangle/pkg/runfmt"
)

// memFile is an in-memory input with a Size, as a file has.
type memFile struct {
	*bytes.Reader
	io.Closer
}

func opener(files map[string][]byte) Opener {
	return func(p string) (io.ReadCloser, error) {
		return memFile{bytes.NewReader(files[p]), io.NopCloser(nil)}, nil
	}
}

func testMeta(dim int) runfmt.Meta {
	return runfmt.Meta{RunID: "r", Loss: "dpo", Mode: "pref", C: 2, Sketch: "full", Dim: dim,
		Groups: []runfmt.Group{{Name: "a", Offset: 0, Size: dim / 2}, {Name: "b", Offset: dim / 2, Size: dim - dim/2}},
		Vocab:  []string{"x", "y", "z"}}
}

// pairsStream writes a valid pairs stream of two steps with a probe pair.
func pairsStream(t testing.TB) []byte {
	var b bytes.Buffer
	w, err := runfmt.NewPairWriter(&b, testMeta(8))
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(0); s < 2; s++ {
		rows := []runfmt.PairRow{}
		for _, p := range handPairs {
			p.Step = s
			p.DotG, p.WWG, p.LLG = []float64{p.Dot, 0}, []float64{p.WW, 0}, []float64{p.LL, 0}
			p.HidW, p.HidL = []float32{1, 2}, []float32{2, 1}
			rows = append(rows, p)
		}
		pr := probePair()
		pr.Step, pr.DotG, pr.WWG, pr.LLG = s, []float64{1, 0}, []float64{4, 0}, []float64{1, 0}
		rows = append(rows, pr)
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gradsStream writes a grads stream of `steps` dump steps, each with `pairs`
// probe pairs (sequence rows), an update row and, if tokens, per-token rows
// of the first pair; vectors have dim entries from a seeded PCG.
func gradsStream(t testing.TB, steps, pairs, dim int, tokens bool) []byte {
	var b bytes.Buffer
	w, err := runfmt.NewGradWriter(&b, testMeta(dim))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 0))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for s := 0; s < steps; s++ {
		var rows []runfmt.GradRow
		for p := 0; p < pairs; p++ {
			for _, side := range []string{"chosen", "rejected"} {
				rows = append(rows, runfmt.GradRow{Step: int64(s), Kind: "probe", Pair: int64(p), Side: side, Token: -1, TokenID: -1, Contrastive: -1, Grad: vec()})
			}
		}
		rows = append(rows, runfmt.GradRow{Step: int64(s), Kind: "update", Pair: -1, Side: "update", Token: -1, TokenID: -1, Contrastive: -1, Grad: vec()})
		if tokens {
			for i := int32(0); i < 2; i++ {
				for _, side := range []string{"chosen", "rejected"} {
					rows = append(rows, runfmt.GradRow{Step: int64(s), Kind: "probe", Pair: 0, Side: side, Token: i, TokenID: i, Contrastive: int8(1 - i), Grad: vec()})
				}
			}
		}
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestProcessLockstep: a run's pairs and grads streams are merged by step;
// the recomputed rows of a step follow its pairs.arrows rows.
func TestProcessLockstep(t *testing.T) {
	files := map[string][]byte{"p": pairsStream(t), "g": gradsStream(t, 1, 2, 8, false)}
	s := &memSink{}
	e := NewEngine(Options{Table: TablePairs, Sink: s})
	if err := Process(context.Background(), e, Input{Label: "L", Files: []string{"p", "g"}}, opener(files), nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.rows {
		got = append(got, r["source"].(string)[:1])
	}
	// step 0: 4 pairs rows then 2 grads rows; step 1: 4 pairs rows.
	if strings.Join(got, "") != "ppppggpppp" {
		t.Errorf("row sources %s", strings.Join(got, ""))
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bodies returns the byte ranges [off, off+len) of the record batch bodies of
// a valid Arrow stream.
func bodies(t testing.TB, s []byte) [][2]int {
	cr := &countReader{r: bytes.NewReader(s)}
	mr := ipc.NewMessageReader(cr)
	defer mr.Release()
	var out [][2]int
	for {
		msg, err := mr.Message()
		if err != nil {
			break
		}
		if msg.Type() == ipc.MessageRecordBatch {
			out = append(out, [2]int{int(cr.n - msg.BodyLen()), int(msg.BodyLen())})
		}
	}
	if len(out) == 0 {
		t.Fatal("no record batches in the seed")
	}
	return out
}

// FuzzProcess corrupts valid pairs and grads streams (steps with probes,
// per-token rows) and cuts them short: reading and computing must never
// panic, and must end with statistics or an error.
//
// The corruption XORs bytes of the record batch bodies (values, offsets,
// validity: what a disk or a killed writer corrupts) and the cut can fall
// anywhere after the schema. Message headers are left intact because Arrow
// Go v17 allocates a header at the size its length prefix claims (up to
// 2 GiB) before anything can check it, which makes such inputs slow rather
// than wrong; runfmt documents that limit.
func FuzzProcess(f *testing.F) {
	seeds := [][]byte{pairsStream(f), gradsStream(f, 2, 2, 8, true)}
	var regions [][][2]int
	for _, s := range seeds {
		regions = append(regions, bodies(f, s))
	}
	f.Add(uint8(0), uint16(0), uint32(0), []byte{0})
	f.Add(uint8(1), uint16(0), uint32(5), []byte{0xff, 0x7f})
	f.Add(uint8(0), uint16(700), uint32(9), []byte{1})
	f.Add(uint8(1), uint16(3000), uint32(3), []byte{0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, which uint8, cut uint16, off uint32, patch []byte) {
		if len(patch) > 256 {
			return
		}
		k := int(which) % len(seeds)
		in := append([]byte(nil), seeds[k]...)
		total := 0
		for _, r := range regions[k] {
			total += r[1]
		}
		for i, x := range patch {
			pos := (int(off) + i) % total
			for _, r := range regions[k] {
				if pos < r[1] {
					in[r[0]+pos] ^= x
					break
				}
				pos -= r[1]
			}
		}
		if cut > 0 {
			schema := 8 + int(binary.LittleEndian.Uint32(in[4:8]))
			in = in[:schema+int(cut)%(len(in)-schema)]
		}
		for _, table := range []string{TablePairs, TableTokens, TableGroups} {
			e := NewEngine(Options{Table: table, Sink: &memSink{}, Collectors: []Collector{NewSummaryWriter(io.Discard, 1)}})
			err := Process(context.Background(), e, Input{Label: "fuzz", Files: []string{"x"}}, opener(map[string][]byte{"x": in}), nil)
			if err != nil && err.Error() == "" {
				t.Fatal("empty error message")
			}
		}
	})
}

// BenchmarkGradstat measures the grads path at S size (D = 2^19 ≈ 0.5M
// floats per vector): reading the stream and reducing every pair (dot, both
// norms, predictions against the update). SetBytes counts the gradient bytes.
func BenchmarkGradstat(b *testing.B) {
	const dim, pairs, steps = 1 << 19, 8, 2
	data := gradsStream(b, steps, pairs, dim, false)
	files := map[string][]byte{"g": data}
	gradBytes := int64(steps * (2*pairs + 1) * dim * 4)
	b.Run("gradstat", func(b *testing.B) {
		b.SetBytes(gradBytes)
		b.ReportAllocs()
		for b.Loop() {
			e := NewEngine(Options{Table: TablePairs, Sink: &discardSink{}})
			if err := Process(context.Background(), e, Input{Label: "bench", Files: []string{"g"}}, opener(files), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// read: runfmt's reader alone, the ceiling for the above.
	b.Run("read", func(b *testing.B) {
		b.SetBytes(gradBytes)
		b.ReportAllocs()
		for b.Loop() {
			rd, err := runfmt.NewGradReader(bytes.NewReader(data), "g")
			if err != nil {
				b.Fatal(err)
			}
			for rd.Next() {
			}
			if err := rd.Err(); err != nil {
				b.Fatal(err)
			}
			rd.Release()
		}
	})
}

type discardSink struct{}

func (discardSink) Write(*Batch) error { return nil }
func (discardSink) Close() error       { return nil }

// TestGrowingStreamCutMidBatch: a run still being written (no DONE) whose
// grads.arrows ends inside a record batch larger than the bytes there is
// read through its last complete step with a warning, as FORMATS.md says;
// the same stream of a finished run is an error.
func TestGrowingStreamCutMidBatch(t *testing.T) {
	full := gradsStream(t, 2, 1, 40000, false) // batches of 3 × 160 kB
	cut := full[:len(full)*3/4]                // inside step 1's batch
	for _, growing := range []bool{true, false} {
		var warns []string
		s := &memSink{}
		e := NewEngine(Options{Table: TablePairs, Sink: s, Workers: 1})
		in := Input{Label: "run", Files: []string{"grads.arrows"}, InProgress: growing}
		err := Process(context.Background(), e, in, opener(map[string][]byte{"grads.arrows": cut}), func(m string) { warns = append(warns, m) })
		if growing {
			if err != nil || len(s.rows) != 1 || len(warns) != 1 || !strings.Contains(warns[0], "run in progress (no DONE): read through step 0") {
				t.Errorf("growing: err %v, %d rows, warnings %q", err, len(s.rows), warns)
			}
			continue
		}
		if err == nil || len(s.rows) != 1 {
			t.Errorf("finished run: err %v, %d rows; want an error after step 0's row", err, len(s.rows))
		}
	}
}

// TestStepsOutOfOrder: a stream whose steps go back or repeat (two runs'
// streams concatenated) is a data error naming the file and the last step
// read in order, after that step's rows were written.
func TestStepsOutOfOrder(t *testing.T) {
	for _, steps := range [][]int64{{0, 2, 1}, {0, 1, 1}} {
		var b bytes.Buffer
		w, err := runfmt.NewPairWriter(&b, testMeta(8))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range steps {
			p := handPairs[0]
			p.Step = st
			p.DotG, p.WWG, p.LLG = []float64{p.Dot, 0}, []float64{p.WW, 0}, []float64{p.LL, 0}
			p.HidW, p.HidL = []float32{1, 2}, []float32{2, 1}
			if err := w.Write([]runfmt.PairRow{p}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		s := &memSink{}
		e := NewEngine(Options{Table: TablePairs, Sink: s})
		err = Process(context.Background(), e, Input{Label: "r", Files: []string{"pairs.arrows"}}, opener(map[string][]byte{"pairs.arrows": b.Bytes()}), nil)
		want := "pairs.arrows:step " + itoa(steps[1]) + ": the next rows are of step " + itoa(steps[2]) + ": steps must increase"
		if err == nil || !strings.Contains(err.Error(), want) || len(s.rows) != 2 {
			t.Errorf("steps %v: err %v, %d rows; want %q after 2 rows", steps, err, len(s.rows), want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

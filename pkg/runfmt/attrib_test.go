package runfmt

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// TestAttribRoundTrip writes two dump steps of random rows (every value
// distinct, drawn from a seeded PCG), reads them back with both readers and
// compares field by field; a truncated copy reports ErrTruncated after the
// first step, and the other readers refuse the stream by format.
func TestAttribRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	var want [][]AttribRow
	var buf bytes.Buffer
	w, err := NewAttribWriter(&buf, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 2; step++ {
		var rows []AttribRow
		for p := range 2 {
			for i := range 3 {
				r := AttribRow{Step: step, Probe: int64(100 + p), Pair: int64(10*step) + int64(i), Batch: 3}
				for _, f := range r.floats() {
					*f = rng.NormFloat64()
				}
				rows = append(rows, r)
			}
		}
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		want = append(want, rows)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	r, err := NewAttribReader(bytes.NewReader(data), "attrib.arrows")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if m := r.Meta(); m.Format != FormatAttrib || m.RunID != "abc123" || m.Raw["extra"] != "x" {
		t.Errorf("meta %+v", m)
	}
	var got [][]AttribRow
	for r.Next() {
		got = append(got, append([]AttribRow(nil), r.Rows()...))
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if r.LastStep() != 2 {
		t.Errorf("LastStep %d, want 2", r.LastStep())
	}

	a, err := OpenAny(bytes.NewReader(data), "attrib.arrows")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if a.Attrib == nil || a.Format != FormatAttrib {
		t.Fatalf("OpenAny: format %q, Attrib %v", a.Format, a.Attrib)
	}
	n := 0
	for a.Attrib.Next() {
		n += len(a.Attrib.Rows())
	}
	if n != 12 || a.Attrib.Err() != nil {
		t.Errorf("OpenAny read %d rows (want 12), err %v", n, a.Attrib.Err())
	}

	if _, err := NewPairReader(bytes.NewReader(data), "attrib.arrows"); err == nil || !strings.Contains(err.Error(), "is a entangle.attrib stream") {
		t.Errorf("PairReader on attrib: %v", err)
	}

	// Cut the stream inside the second record batch: the first step is
	// delivered, then ErrTruncated.
	var one bytes.Buffer
	w1, _ := NewAttribWriter(&one, testMeta())
	if err := w1.Write(want[0]); err != nil {
		t.Fatal(err)
	}
	cut := data[:one.Len()+20]
	tr, err := NewAttribReader(bytes.NewReader(cut), "cut")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Release()
	steps := 0
	for tr.Next() {
		steps++
	}
	if steps != 1 || !errors.Is(tr.Err(), ErrTruncated) {
		t.Errorf("truncated: %d batches, err %v; want 1 and ErrTruncated", steps, tr.Err())
	}
}

// TestAttribWithoutHistory: an attrib.arrows written before the hist_w and
// hist_l columns existed (the same stream with those two columns dropped)
// reads with NaN history and every other value as written.
func TestAttribWithoutHistory(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewAttribWriter(&buf, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	rows := []AttribRow{
		{Step: 1, Probe: 5, Pair: 2, WW: 1, WL: 2, LW: 3, LL: 4, CW: 0.5, CL: 0.25, HistW: 9, HistL: 8, Batch: 2},
		{Step: 1, Probe: 5, Pair: 3, WW: -1, WL: -2, LW: -3, LL: -4, CW: 0.5, CL: 0.25, HistW: 9, HistL: 8, Batch: 2},
	}
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	old := dropColumns(t, buf.Bytes(), "hist_w", "hist_l")
	r, err := NewAttribReader(bytes.NewReader(old), "old-attrib.arrows")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var got []AttribRow
	for r.Next() {
		got = append(got, r.Rows()...)
	}
	if r.Err() != nil || len(got) != 2 {
		t.Fatalf("read %d rows, err %v", len(got), r.Err())
	}
	for i, g := range got {
		if !math.IsNaN(g.HistW) || !math.IsNaN(g.HistL) {
			t.Errorf("row %d: history %g, %g, want NaN", i, g.HistW, g.HistL)
		}
		g.HistW, g.HistL = rows[i].HistW, rows[i].HistL
		if g != rows[i] {
			t.Errorf("row %d: %+v, want %+v", i, g, rows[i])
		}
	}
}

// dropColumns rewrites an Arrow IPC stream without the named columns (schema
// metadata kept).
func dropColumns(t *testing.T, data []byte, names ...string) []byte {
	t.Helper()
	rr, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	s := rr.Schema()
	var keep []int
	var fields []arrow.Field
	for i, f := range s.Fields() {
		if !slices.Contains(names, f.Name) {
			keep = append(keep, i)
			fields = append(fields, f)
		}
	}
	md := s.Metadata()
	ns := arrow.NewSchema(fields, &md)
	var out bytes.Buffer
	w := ipc.NewWriter(&out, ipc.WithSchema(ns))
	for rr.Next() {
		rec := rr.Record()
		var cols []arrow.Array
		for _, i := range keep {
			cols = append(cols, rec.Column(i))
		}
		nr := array.NewRecord(ns, cols, rec.NumRows())
		if err := w.Write(nr); err != nil {
			t.Fatal(err)
		}
		nr.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

package runfmt

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
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

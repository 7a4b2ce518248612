package runfmt

import (
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// FormatAttrib is the format of attrib.arrows (train -attrib).
const FormatAttrib = "entangle.attrib"

// AttribRow is one row of attrib.arrows: at a dump step, the inner products
// of probe pair Probe's sequence gradients g_w^p, g_l^p with training pair
// Pair's g_w,i, g_l,i (float64), and the coefficients (CW, CL) the step
// applied to pair i in a batch of Batch pairs. The batch direction is
// dst = (1/B)Σ_i(−cw_i g_w,i + cl_i g_l,i) (pkg/pref), so pair i's share of
// ⟨g_w^p, −dst⟩ is (CW·WW − CL·WL)/B.
type AttribRow struct {
	Step   int64
	Probe  int64   // probe pair id
	Pair   int64   // training pair id
	WW, WL float64 // ⟨g_w^p, g_w,i⟩, ⟨g_w^p, g_l,i⟩
	LW, LL float64 // ⟨g_l^p, g_w,i⟩, ⟨g_l^p, g_l,i⟩
	CW, CL float64 // the step's coefficients of pair i (pairs.arrows cw, cl)
	// HistW, HistL: with train -attrib-update the dots are of the applied
	// update, ⟨P g^p, g_i⟩ with P the step's diagonal preconditioner (lr
	// included), and these are the history term ⟨g_w^p, h⟩, ⟨g_l^p, h⟩ of
	// Δθ = −P⊙dst + h (the same on every row of a step and probe); NaN when
	// the dots are of the raw gradient (-attrib).
	HistW, HistL float64
	Batch        int32 // B, the pairs of the step
}

func (r *AttribRow) floats() [8]*float64 {
	return [8]*float64{&r.WW, &r.WL, &r.LW, &r.LL, &r.CW, &r.CL, &r.HistW, &r.HistL}
}

var attribFloatCols = []string{"ww", "wl", "lw", "ll", "cw", "cl", "hist_w", "hist_l"}

func attribFields() []arrow.Field {
	f := []arrow.Field{{Name: "step", Type: i64}, {Name: "probe", Type: i64}, {Name: "pair", Type: i64}}
	for _, c := range attribFloatCols {
		f = append(f, arrow.Field{Name: c, Type: f64})
	}
	return append(f, arrow.Field{Name: "batch", Type: i32})
}

// AttribWriter writes attrib.arrows.
type AttribWriter struct{ w *writer }

// NewAttribWriter starts an attribution stream ("entangle.attrib") on w.
func NewAttribWriter(w io.Writer, meta Meta, opts ...Option) (*AttribWriter, error) {
	return &AttribWriter{newWriter(w, FormatAttrib, &meta, opts)}, nil
}

// Write writes one dump step's rows as one record batch and flushes.
func (aw *AttribWriter) Write(rows []AttribRow) error {
	aw.w.check()
	b := aw.w.b
	for i := range rows {
		r := &rows[i]
		b.Field(0).(*array.Int64Builder).Append(r.Step)
		b.Field(1).(*array.Int64Builder).Append(r.Probe)
		b.Field(2).(*array.Int64Builder).Append(r.Pair)
		for j, p := range r.floats() {
			b.Field(3 + j).(*array.Float64Builder).Append(*p)
		}
		b.Field(3 + len(attribFloatCols)).(*array.Int32Builder).Append(r.Batch)
	}
	return aw.w.flush()
}

// Close writes the end-of-stream marker. It does not close the destination.
func (aw *AttribWriter) Close() error { return aw.w.close() }

// AttribReader streams attrib.arrows.
type AttribReader struct {
	r    *reader
	rows []AttribRow
}

// NewAttribReader reads the schema of an attribution stream from r; name is
// used in error messages.
func NewAttribReader(r io.Reader, name string, opts ...Option) (*AttribReader, error) {
	rd, err := open(r, name, FormatAttrib, opts)
	if err != nil {
		return nil, err
	}
	return &AttribReader{r: rd}, nil
}

// Meta returns the stream's metadata.
func (a *AttribReader) Meta() Meta { return a.r.meta }

// Next reads the next record batch; it returns false at the end or on an error (see Err).
func (a *AttribReader) Next() bool { return a.r.next(a.decode) }

// Rows returns the current batch's rows, valid until the next Next.
func (a *AttribReader) Rows() []AttribRow { return a.rows }

// Err returns the error that stopped Next, nil at a clean end.
func (a *AttribReader) Err() error { return a.r.err }

// LastStep returns the step of the last complete batch delivered, or −1.
func (a *AttribReader) LastStep() int64 { return a.r.lastStep() }

// Release frees the reader's Arrow resources.
func (a *AttribReader) Release() { a.r.rr.Release() }

func (a *AttribReader) decode(rec arrow.Record) (int64, error) {
	c := a.r.cols
	var ints [3][]int64
	for j, name := range []string{"step", "probe", "pair"} {
		v, err := colInt64(rec, c[j], name)
		if err != nil {
			return 0, err
		}
		ints[j] = v
	}
	var fl [8][]float64
	for j, name := range attribFloatCols {
		if c[3+j] < 0 { // hist_w, hist_l of a file from before -attrib-update
			fl[j] = nanColumn(fl[j], int(rec.NumRows()))
			continue
		}
		v, err := colFloat64(rec, c[3+j], name)
		if err != nil {
			return 0, err
		}
		fl[j] = v
	}
	batch, err := colInt32(rec, c[3+len(attribFloatCols)], "batch")
	if err != nil {
		return 0, err
	}
	n := len(ints[0])
	a.rows = growRows(a.rows, n)
	for i := range a.rows {
		r := AttribRow{Step: ints[0][i], Probe: ints[1][i], Pair: ints[2][i], Batch: batch[i]}
		for j, p := range r.floats() {
			*p = fl[j][i]
		}
		if r.Batch <= 0 {
			return 0, fmt.Errorf("row %d: batch %d is not positive", i, r.Batch)
		}
		a.rows[i] = r
	}
	return lastOf(ints[0]), nil
}

// nanColumn returns n NaNs (reusing buf).
func nanColumn(buf []float64, n int) []float64 {
	buf = buf[:0]
	for range n {
		buf = append(buf, math.NaN())
	}
	return buf
}

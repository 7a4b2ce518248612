package runfmt

import (
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// StepRow is one row of steps.arrows. NaN is written as (and read from) null.
type StepRow struct {
	Step                                       int64
	Kind                                       string // "train" | "eval"
	LR, Loss, GradNorm, Ms, TokenAcc, Margin   float64
	LogpChosen, LogpRejected                   float64
	LogpChosenTok, LogpRejectedTok             float64
	RewardsChosen, RewardsRejected             float64
	RewardsMargins, RewardsAccuracies, CosMean float64
	BatchDot, BatchWW, BatchLL                 float64
}

// NullStepRow returns a row of step and kind with every float NaN (null).
func NullStepRow(step int64, kind string) StepRow {
	r := StepRow{Step: step, Kind: kind}
	for _, p := range r.floats() {
		*p = math.NaN()
	}
	return r
}

func (r *StepRow) floats() [18]*float64 {
	return [18]*float64{&r.LR, &r.Loss, &r.GradNorm, &r.Ms, &r.TokenAcc, &r.Margin,
		&r.LogpChosen, &r.LogpRejected, &r.LogpChosenTok, &r.LogpRejectedTok,
		&r.RewardsChosen, &r.RewardsRejected, &r.RewardsMargins, &r.RewardsAccuracies, &r.CosMean,
		&r.BatchDot, &r.BatchWW, &r.BatchLL}
}

// PairRow is one row of pairs.arrows. DotG, WWG, LLG have G values and HidW,
// HidL C values. LogpWAfter, LogpLAfter, PredW, PredL are NaN (null) on train rows.
type PairRow struct {
	Step       int64
	Kind       string // "train" | "probe"
	Pair       int64  // example id
	LogpW      float64
	LogpL      float64
	RefW       float64
	RefL       float64
	LenW, LenL int32
	Loss       float64
	Margin     float64
	DW, DL     float64 // d_w = −∂ℓ/∂log π_w, d_l = ∂ℓ/∂log π_l
	CW, CL     float64 // coefficients applied: contribution cw·g_w − cl·g_l
	Dot, WW    float64 // ⟨g_w,g_l⟩, ‖g_w‖²
	LL         float64 // ‖g_l‖²
	DotG       []float64
	WWG        []float64
	LLG        []float64
	HidW, HidL []float32
	LogpWAfter float64
	LogpLAfter float64
	PredW      float64 // ⟨g_w, Δθ⟩
	PredL      float64 // ⟨g_l, Δθ⟩
}

func (r *PairRow) scalars() [13]*float64 {
	return [13]*float64{&r.LogpW, &r.LogpL, &r.RefW, &r.RefL, &r.Loss, &r.Margin, &r.DW, &r.DL, &r.CW, &r.CL, &r.Dot, &r.WW, &r.LL}
}

func (r *PairRow) after() [4]*float64 {
	return [4]*float64{&r.LogpWAfter, &r.LogpLAfter, &r.PredW, &r.PredL}
}

// GradRow is one row of grads.arrows.
type GradRow struct {
	Step        int64
	Kind        string // "probe" | "train" | "update"
	Pair        int64  // example id, −1 for the update row
	Side        string // "chosen" | "rejected" | "update"
	Token       int32  // −1 for a sequence gradient, else the response-token index
	TokenID     int32  // −1 for sequence rows
	Contrastive int8   // −1 null (sequence rows), 0, 1
	Grad        []float32
}

// Option configures a writer or reader.
type Option func(*options)

type options struct {
	mem       memory.Allocator
	maxBuffer int
}

// WithAllocator makes a writer build records, or a reader read them, with mem
// (tests pass a memory.CheckedAllocator). A reader given an allocator does not
// bound allocations by WithMaxBuffer.
func WithAllocator(mem memory.Allocator) Option { return func(o *options) { o.mem = mem } }

// WithMaxBuffer bounds the size of any one buffer a reader allocates (default
// DefaultMaxBuffer): a record batch whose body is larger is refused as corrupt.
func WithMaxBuffer(n int) Option { return func(o *options) { o.maxBuffer = n } }

// DefaultMaxBuffer is the readers' default allocation bound, 4 GiB.
const DefaultMaxBuffer = 4 << 30

func getOptions(opts []Option) options {
	o := options{maxBuffer: DefaultMaxBuffer}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// writer is what the three writers share: a schema, a record builder and an
// IPC stream writer.
type writer struct {
	dst    io.Writer
	schema *arrow.Schema
	b      *array.RecordBuilder
	w      *ipc.Writer
	closed bool
}

func newWriter(dst io.Writer, format string, meta *Meta, opts []Option) *writer {
	o := getOptions(opts)
	mem := o.mem
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	md := meta.metadata(format)
	s := arrow.NewSchema(fieldsFor(format, meta), &md)
	return &writer{dst: dst, schema: s, b: array.NewRecordBuilder(mem, s),
		w: ipc.NewWriter(dst, ipc.WithSchema(s), ipc.WithAllocator(mem))}
}

// flush writes the builder's rows as one record batch and flushes dst.
func (w *writer) flush() error {
	rec := w.b.NewRecord()
	defer rec.Release()
	return w.writeRecord(rec)
}

// writeRecord writes rec as one record batch and flushes dst.
func (w *writer) writeRecord(rec arrow.Record) error {
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("runfmt: writing a record batch: %w", err)
	}
	if f, ok := w.dst.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("runfmt: flushing: %w", err)
		}
	}
	return nil
}

// close writes the end-of-stream marker and frees the builder.
func (w *writer) close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.b.Release()
	err := w.w.Close()
	if f, ok := w.dst.(interface{ Flush() error }); ok && err == nil {
		err = f.Flush()
	}
	return err
}

func (w *writer) check() {
	if w.closed {
		panic("runfmt: Write after Close")
	}
}

func appendNullable(b *array.Float64Builder, v float64) {
	if math.IsNaN(v) {
		b.AppendNull()
	} else {
		b.Append(v)
	}
}

// StepWriter writes steps.arrows.
type StepWriter struct{ w *writer }

// NewStepWriter starts a steps stream ("entangle.steps") on w.
func NewStepWriter(w io.Writer, meta Meta, opts ...Option) (*StepWriter, error) {
	return &StepWriter{newWriter(w, FormatSteps, &meta, opts)}, nil
}

// Write writes rows (normally one step's: its train row and any eval row) as
// one record batch and flushes.
func (sw *StepWriter) Write(rows []StepRow) error {
	sw.w.check()
	b := sw.w.b
	for i := range rows {
		r := &rows[i]
		b.Field(0).(*array.Int64Builder).Append(r.Step)
		b.Field(1).(*array.StringBuilder).Append(r.Kind)
		for j, p := range r.floats() {
			appendNullable(b.Field(2+j).(*array.Float64Builder), *p)
		}
	}
	return sw.w.flush()
}

// Close writes the end-of-stream marker. It does not close the destination.
func (sw *StepWriter) Close() error { return sw.w.close() }

// PairWriter writes pairs.arrows.
type PairWriter struct {
	w    *writer
	g, c int
}

// NewPairWriter starts a pairs stream ("entangle.pairs") on w. meta.Groups
// (G ≥ 1 groups) and meta.C ≥ 1 fix the lengths of the list columns.
func NewPairWriter(w io.Writer, meta Meta, opts ...Option) (*PairWriter, error) {
	if len(meta.Groups) == 0 || meta.C <= 0 {
		return nil, fmt.Errorf("runfmt: pairs need at least one group and C > 0 (have %d groups, C %d)", len(meta.Groups), meta.C)
	}
	return &PairWriter{w: newWriter(w, FormatPairs, &meta, opts), g: len(meta.Groups), c: meta.C}, nil
}

// Write writes one step's pair rows as one record batch and flushes. Every
// row must have G values in DotG, WWG, LLG and C in HidW, HidL.
func (pw *PairWriter) Write(rows []PairRow) error {
	pw.w.check()
	for i := range rows {
		r := &rows[i]
		if len(r.DotG) != pw.g || len(r.WWG) != pw.g || len(r.LLG) != pw.g || len(r.HidW) != pw.c || len(r.HidL) != pw.c {
			return fmt.Errorf("runfmt: pair %d of step %d: list lengths %d,%d,%d (want G=%d) and %d,%d (want C=%d)",
				r.Pair, r.Step, len(r.DotG), len(r.WWG), len(r.LLG), pw.g, len(r.HidW), len(r.HidL), pw.c)
		}
	}
	b := pw.w.b
	for i := range rows {
		r := &rows[i]
		k := 0
		next := func() array.Builder { k++; return b.Field(k - 1) }
		next().(*array.Int64Builder).Append(r.Step)
		next().(*array.StringBuilder).Append(r.Kind)
		next().(*array.Int64Builder).Append(r.Pair)
		s := r.scalars()
		for _, p := range s[:4] {
			next().(*array.Float64Builder).Append(*p)
		}
		next().(*array.Int32Builder).Append(r.LenW)
		next().(*array.Int32Builder).Append(r.LenL)
		for _, p := range s[4:] {
			next().(*array.Float64Builder).Append(*p)
		}
		for _, v := range [][]float64{r.DotG, r.WWG, r.LLG} {
			lb := next().(*array.FixedSizeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Float64Builder).AppendValues(v, nil)
		}
		for _, v := range [][]float32{r.HidW, r.HidL} {
			lb := next().(*array.FixedSizeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Float32Builder).AppendValues(v, nil)
		}
		for _, p := range r.after() {
			appendNullable(next().(*array.Float64Builder), *p)
		}
	}
	return pw.w.flush()
}

// Close writes the end-of-stream marker. It does not close the destination.
func (pw *PairWriter) Close() error { return pw.w.close() }

// GradWriter writes grads.arrows.
type GradWriter struct {
	w    *writer
	d    int
	vals []float32 // the record's gradient values, reused across Writes
}

// NewGradWriter starts a gradient stream ("entangle.grads") on w. meta.Dim ≥
// 1 is the length of every gradient vector; meta.Sketch is "full" or "sketch:K".
func NewGradWriter(w io.Writer, meta Meta, opts ...Option) (*GradWriter, error) {
	if meta.Dim <= 0 || meta.Dim > math.MaxInt32 {
		return nil, fmt.Errorf("runfmt: grads need 1 ≤ dim < 2^31, have %d", meta.Dim)
	}
	if meta.Sketch == "" {
		return nil, fmt.Errorf("runfmt: grads need the sketch metadata (\"full\" or \"sketch:K\")")
	}
	return &GradWriter{w: newWriter(w, FormatGrads, &meta, opts), d: meta.Dim}, nil
}

// Write writes one dump step's gradient rows as one record batch and
// flushes. Every Grad must have Dim values. The values are copied, once, into
// a buffer the writer keeps between calls: the gradient column of the record
// is built over that buffer directly (no builder, no fresh zeroed allocation
// per step), which is what lets a dump run at memory-copy speed.
func (gw *GradWriter) Write(rows []GradRow) error {
	gw.w.check()
	for i := range rows {
		if len(rows[i].Grad) != gw.d {
			return fmt.Errorf("runfmt: grad row %d of step %d (pair %d, %s) has %d values, want dim %d",
				i, rows[i].Step, rows[i].Pair, rows[i].Side, len(rows[i].Grad), gw.d)
		}
	}
	n := len(rows)
	if cap(gw.vals) < n*gw.d {
		gw.vals = make([]float32, n*gw.d)
	}
	vals := gw.vals[:n*gw.d]
	b := gw.w.b
	for i := range rows {
		r := &rows[i]
		b.Field(0).(*array.Int64Builder).Append(r.Step)
		b.Field(1).(*array.StringBuilder).Append(r.Kind)
		b.Field(2).(*array.Int64Builder).Append(r.Pair)
		b.Field(3).(*array.StringBuilder).Append(r.Side)
		b.Field(4).(*array.Int32Builder).Append(r.Token)
		b.Field(5).(*array.Int32Builder).Append(r.TokenID)
		cb := b.Field(6).(*array.BooleanBuilder)
		if r.Contrastive < 0 {
			cb.AppendNull()
		} else {
			cb.Append(r.Contrastive > 0)
		}
		copy(vals[i*gw.d:(i+1)*gw.d], r.Grad)
	}
	cols := make([]arrow.Array, len(gw.w.schema.Fields()))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for f := 0; f < 7; f++ {
		cols[f] = b.Field(f).NewArray()
	}
	valData := array.NewData(arrow.PrimitiveTypes.Float32, len(vals),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float32Traits.CastToBytes(vals))}, nil, 0, 0)
	defer valData.Release()
	listData := array.NewData(gw.w.schema.Field(7).Type, n, []*memory.Buffer{nil}, []arrow.ArrayData{valData}, 0, 0)
	defer listData.Release()
	cols[7] = array.NewFixedSizeListData(listData)
	rec := array.NewRecord(gw.w.schema, cols, int64(n))
	defer rec.Release()
	return gw.w.writeRecord(rec)
}

// Close writes the end-of-stream marker. It does not close the destination.
func (gw *GradWriter) Close() error { return gw.w.close() }

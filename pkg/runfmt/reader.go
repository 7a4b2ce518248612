package runfmt

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"entangle/pkg/arrowio"
)

// ErrTruncated is wrapped by a reader's Err when the stream ended without its
// end-of-stream marker (a killed or still running train): inside a record
// batch or exactly between two. Every complete step before it was delivered;
// the error names the last one. It is pkg/arrowio's ErrTruncated.
var ErrTruncated = arrowio.ErrTruncated

// reader is what the three readers share.
type reader struct {
	name    string
	meta    Meta
	g       *arrowio.Guard
	rr      *ipc.Reader
	cols    []int // schema column of each wanted field
	batches int   // record batches delivered
	last    int64 // step of the last delivered batch's last row
	have    bool  // a non-empty batch was delivered
	err     error
	done    bool
}

// open reads the schema of a train output stream and checks its format
// (want, or any of the three when want is ""), version and metadata.
func open(r io.Reader, name, want string, opts []Option) (rd *reader, err error) {
	o := getOptions(opts)
	mem := o.mem
	if mem == nil {
		mem = arrowio.LimitAllocator(o.maxBuffer)
	}
	g := arrowio.NewGuard(r)
	mem = g.Allocator(mem)
	var ir *ipc.Reader
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("corrupt Arrow schema (%v)", p)
			}
		}()
		ir, err = ipc.NewReader(g, ipc.WithAllocator(mem))
	}()
	if err != nil {
		switch {
		case arrowio.IsFile(g.Head()):
			return nil, fmt.Errorf("%s: is an Arrow IPC file; train outputs are Arrow streams (.arrows)", name)
		case len(g.Head()) == 0:
			return nil, fmt.Errorf("%s: empty input (expected a train output stream, .arrows)", name)
		case g.Err() != nil:
			return nil, fmt.Errorf("%s: %w", name, g.Err())
		}
		return nil, fmt.Errorf("%s: not an Arrow IPC stream: %v", name, err)
	}
	rd = &reader{name: name, g: g, rr: ir, last: -1}
	if err := rd.checkSchema(want); err != nil {
		ir.Release()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rd, nil
}

func (rd *reader) checkSchema(want string) error {
	s := rd.rr.Schema()
	m, perr := parseMeta(s.Metadata())
	f := m.Format
	switch {
	case f == FormatPrefdata:
		return errors.New("is a prefgen dataset, not a train output")
	case f == "":
		return errors.New("not a train output: the Arrow schema has no \"format\" metadata")
	case f != FormatSteps && f != FormatPairs && f != FormatGrads && f != FormatAttrib:
		return fmt.Errorf("not a train output: unknown format %q (want %s, %s, %s or %s)", f, FormatSteps, FormatPairs, FormatGrads, FormatAttrib)
	case want != "" && f != want:
		return fmt.Errorf("is a %s stream, not %s", f, want)
	case !Readable(m.Version):
		return fmt.Errorf("%s format_version %q is not supported: this build reads versions 1 to %s (hint: read it with the build of train/gradstat that wrote it, or re-run train with this one)", f, m.Version, Version)
	case perr != nil:
		return perr
	}
	switch f {
	case FormatPairs:
		if len(m.Groups) == 0 || m.C <= 0 {
			return fmt.Errorf("pairs metadata needs groups and C > 0 (have %d groups, C %d)", len(m.Groups), m.C)
		}
	case FormatGrads:
		if m.Dim <= 0 || m.Dim > math.MaxInt32 {
			return fmt.Errorf("grads metadata \"dim\" = %d is out of range", m.Dim)
		}
	}
	cols, err := matchColumns(s, fieldsFor(f, &m))
	if err != nil {
		return err
	}
	rd.meta, rd.cols = m, cols
	return nil
}

// next reads the next record batch and hands it to decode. Panics from
// Arrow on corrupt data become errors.
func (rd *reader) next(decode func(rec arrow.Record) (last int64, err error)) (ok bool) {
	if rd.done {
		return false
	}
	var rec arrow.Record
	var decErr error
	last := int64(-1)
	func() {
		defer func() {
			if p := recover(); p != nil {
				decErr = fmt.Errorf("corrupt record batch (%v)", p)
			}
		}()
		if !rd.rr.Next() {
			return
		}
		rec = rd.rr.Record()
		if decErr = arrowio.ValidateRecord(rec); decErr != nil {
			decErr = fmt.Errorf("corrupt record batch: %v", decErr)
			return
		}
		last, decErr = decode(rec)
	}()
	switch {
	case decErr != nil:
		rd.fail(decErr)
		return false
	case rec == nil:
		rd.done = true
		// The guard's own error says precisely what ended the stream; Arrow
		// wraps it, or takes a missing end-of-stream marker for a clean end.
		err := rd.g.Err()
		if err == nil {
			err = rd.rr.Err()
		}
		switch {
		case errors.Is(err, ErrTruncated):
			rd.fail(fmt.Errorf("%w (the run was killed or is still writing)", err))
		case err != nil && !errors.Is(err, io.EOF):
			rd.fail(fmt.Errorf("corrupt Arrow data: %v", err))
		case !rd.g.Ended():
			rd.fail(fmt.Errorf("%w: no end-of-stream marker (the run was killed or is still writing)", ErrTruncated))
		}
		return false
	}
	rd.batches++
	if rec.NumRows() > 0 {
		rd.last, rd.have = last, true
	}
	return true
}

func (rd *reader) fail(err error) {
	rd.done = true
	where := "before the first complete step"
	if rd.have {
		where = fmt.Sprintf("after step %d (the last complete step)", rd.last)
	}
	rd.err = fmt.Errorf("%s: %s: %w", rd.name, where, err)
}

// LastStep returns the step of the last complete batch delivered, or −1.
func (rd *reader) lastStep() int64 { return rd.last }

// Column decoding. Each helper checks the column's length and nulls; short
// buffers make Arrow's accessors panic, which next recovers.

func colInt64(rec arrow.Record, c int, name string) ([]int64, error) {
	a := rec.Column(c).(*array.Int64)
	if err := checkCol(a, rec, name); err != nil {
		return nil, err
	}
	return a.Int64Values()[:rec.NumRows()], nil
}

func colInt32(rec arrow.Record, c int, name string) ([]int32, error) {
	a := rec.Column(c).(*array.Int32)
	if err := checkCol(a, rec, name); err != nil {
		return nil, err
	}
	return a.Int32Values()[:rec.NumRows()], nil
}

func colFloat64(rec arrow.Record, c int, name string) ([]float64, error) {
	a := rec.Column(c).(*array.Float64)
	if err := checkCol(a, rec, name); err != nil {
		return nil, err
	}
	return a.Float64Values()[:rec.NumRows()], nil
}

// nullableFloat64 returns the column with nulls as NaN into dst.
func nullableFloat64(dst []float64, rec arrow.Record, c int, name string) ([]float64, error) {
	a := rec.Column(c).(*array.Float64)
	n := int(rec.NumRows())
	if a.Len() != n {
		return nil, fmt.Errorf("column %q has %d rows, the batch %d", name, a.Len(), n)
	}
	v := a.Float64Values()[:n]
	dst = dst[:0]
	for i := 0; i < n; i++ {
		if a.IsNull(i) {
			dst = append(dst, math.NaN())
		} else {
			dst = append(dst, v[i])
		}
	}
	return dst, nil
}

func checkCol(a arrow.Array, rec arrow.Record, name string) error {
	if a.Len() != int(rec.NumRows()) {
		return fmt.Errorf("column %q has %d rows, the batch %d", name, a.Len(), rec.NumRows())
	}
	if a.NullN() != 0 {
		return fmt.Errorf("column %q has %d nulls but is not nullable", name, a.NullN())
	}
	return nil
}

// colString returns the column's values, each one of allowed (so the rows
// hold no reference to the batch's memory).
func colString(dst []string, rec arrow.Record, c int, name string, allowed ...string) ([]string, error) {
	a := rec.Column(c).(*array.String)
	if err := checkCol(a, rec, name); err != nil {
		return nil, err
	}
	dst = dst[:0]
	for i := 0; i < a.Len(); i++ {
		v := a.Value(i)
		k := -1
		for j, s := range allowed {
			if v == s {
				k = j
				break
			}
		}
		if k < 0 {
			return nil, fmt.Errorf("column %q: row %d has %q, want one of %q", name, i, v, allowed)
		}
		dst = append(dst, allowed[k])
	}
	return dst, nil
}

// colFSL returns the flat values of a FixedSizeList column of k values per row.
func colFSL[T float32 | float64](rec arrow.Record, c int, name string, k int) ([]T, error) {
	a := rec.Column(c).(*array.FixedSizeList)
	if err := checkCol(a, rec, name); err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	vals := a.ListValues()
	if vals.NullN() != 0 {
		return nil, fmt.Errorf("column %q has null list items", name)
	}
	off := a.Data().Offset() * k
	var v []T
	switch x := vals.(type) {
	case *array.Float64:
		v = any(x.Float64Values()).([]T)
	case *array.Float32:
		v = any(x.Float32Values()).([]T)
	}
	if len(v) < off+n*k {
		return nil, fmt.Errorf("column %q has %d list items, want %d", name, len(v)-off, n*k)
	}
	return v[off : off+n*k], nil
}

func lastOf(steps []int64) int64 {
	if len(steps) == 0 {
		return -1
	}
	return steps[len(steps)-1]
}

// StepReader streams steps.arrows.
type StepReader struct {
	r    *reader
	rows []StepRow
	kind []string
	f    []float64
}

// NewStepReader reads the schema of a steps stream from r; name is used in
// error messages.
func NewStepReader(r io.Reader, name string, opts ...Option) (*StepReader, error) {
	rd, err := open(r, name, FormatSteps, opts)
	if err != nil {
		return nil, err
	}
	return &StepReader{r: rd}, nil
}

// Meta returns the stream's metadata.
func (s *StepReader) Meta() Meta { return s.r.meta }

// Next reads the next record batch; it returns false at the end or on an error (see Err).
func (s *StepReader) Next() bool { return s.r.next(s.decode) }

// Rows returns the current batch's rows, valid until the next Next.
func (s *StepReader) Rows() []StepRow { return s.rows }

// Err returns the error that stopped Next, nil at a clean end.
func (s *StepReader) Err() error { return s.r.err }

// LastStep returns the step of the last complete batch delivered, or −1.
func (s *StepReader) LastStep() int64 { return s.r.lastStep() }

// Release frees the reader's Arrow resources.
func (s *StepReader) Release() { s.r.rr.Release() }

func (s *StepReader) decode(rec arrow.Record) (int64, error) {
	c := s.r.cols
	steps, err := colInt64(rec, c[0], "step")
	if err != nil {
		return 0, err
	}
	if s.kind, err = colString(s.kind, rec, c[1], "kind", KindTrain, KindEval); err != nil {
		return 0, err
	}
	n := len(steps)
	s.rows = growRows(s.rows, n)
	for i := range s.rows {
		s.rows[i] = StepRow{Step: steps[i], Kind: s.kind[i]}
	}
	for j, name := range stepFloatCols {
		if s.f, err = nullableFloat64(s.f, rec, c[2+j], name); err != nil {
			return 0, err
		}
		for i := range s.rows {
			*s.rows[i].floats()[j] = s.f[i]
		}
	}
	return lastOf(steps), nil
}

func growRows[T any](rows []T, n int) []T {
	if cap(rows) < n {
		return make([]T, n)
	}
	return rows[:n]
}

// PairReader streams pairs.arrows.
type PairReader struct {
	r    *reader
	rows []PairRow
	kind []string
	f    []float64
}

// NewPairReader reads the schema of a pairs stream from r; name is used in
// error messages.
func NewPairReader(r io.Reader, name string, opts ...Option) (*PairReader, error) {
	rd, err := open(r, name, FormatPairs, opts)
	if err != nil {
		return nil, err
	}
	return &PairReader{r: rd}, nil
}

// Meta returns the stream's metadata.
func (p *PairReader) Meta() Meta { return p.r.meta }

// Next reads the next record batch; it returns false at the end or on an error (see Err).
func (p *PairReader) Next() bool { return p.r.next(p.decode) }

// Rows returns the current batch's rows. They and their slices are views of
// the batch, valid until the next Next (PairRow.Clone keeps one).
func (p *PairReader) Rows() []PairRow { return p.rows }

// Clone returns a copy of r that owns its list columns (a row of
// PairReader.Rows outlives its batch).
func (r PairRow) Clone() PairRow {
	r.DotG, r.WWG, r.LLG = slices.Clone(r.DotG), slices.Clone(r.WWG), slices.Clone(r.LLG)
	r.HidW, r.HidL = slices.Clone(r.HidW), slices.Clone(r.HidL)
	return r
}

// Err returns the error that stopped Next, nil at a clean end.
func (p *PairReader) Err() error { return p.r.err }

// LastStep returns the step of the last complete batch delivered, or −1.
func (p *PairReader) LastStep() int64 { return p.r.lastStep() }

// Release frees the reader's Arrow resources.
func (p *PairReader) Release() { p.r.rr.Release() }

func (p *PairReader) decode(rec arrow.Record) (int64, error) {
	c := p.r.cols
	g, cw := len(p.r.meta.Groups), p.r.meta.C
	steps, err := colInt64(rec, c[0], "step")
	if err != nil {
		return 0, err
	}
	if p.kind, err = colString(p.kind, rec, c[1], "kind", KindTrain, KindProbe); err != nil {
		return 0, err
	}
	pairs, err := colInt64(rec, c[2], "pair")
	if err != nil {
		return 0, err
	}
	lenW, err := colInt32(rec, c[7], "len_w")
	if err != nil {
		return 0, err
	}
	lenL, err := colInt32(rec, c[8], "len_l")
	if err != nil {
		return 0, err
	}
	var lists [3][]float64
	for j, name := range []string{"dot_g", "ww_g", "ll_g"} {
		if lists[j], err = colFSL[float64](rec, c[18+j], name, g); err != nil {
			return 0, err
		}
	}
	var hid [2][]float32
	for j, name := range []string{"hid_w", "hid_l"} {
		if hid[j], err = colFSL[float32](rec, c[21+j], name, cw); err != nil {
			return 0, err
		}
	}
	n := len(steps)
	p.rows = growRows(p.rows, n)
	for i := range p.rows {
		sl := func(v []float64) []float64 { return v[i*g : (i+1)*g : (i+1)*g] }
		hl := func(v []float32) []float32 { return v[i*cw : (i+1)*cw : (i+1)*cw] }
		p.rows[i] = PairRow{Step: steps[i], Kind: p.kind[i], Pair: pairs[i], LenW: lenW[i], LenL: lenL[i],
			DotG: sl(lists[0]), WWG: sl(lists[1]), LLG: sl(lists[2]), HidW: hl(hid[0]), HidL: hl(hid[1])}
	}
	// scalar columns: logp_w..ref_l at 3..6, loss..ll at 9..17
	for j, name := range pairFloatCols {
		col := 3 + j
		if j >= 4 {
			col = 9 + j - 4
		}
		v, err := colFloat64(rec, c[col], name)
		if err != nil {
			return 0, err
		}
		for i := range p.rows {
			*p.rows[i].scalars()[j] = v[i]
		}
	}
	for j, name := range pairAfterCols {
		if p.f, err = nullableFloat64(p.f, rec, c[23+j], name); err != nil {
			return 0, err
		}
		for i := range p.rows {
			*p.rows[i].after()[j] = p.f[i]
		}
	}
	return lastOf(steps), nil
}

// GradReader streams grads.arrows.
type GradReader struct {
	r          *reader
	rows       []GradRow
	kind, side []string
}

// NewGradReader reads the schema of a gradient stream from r; name is used
// in error messages.
func NewGradReader(r io.Reader, name string, opts ...Option) (*GradReader, error) {
	rd, err := open(r, name, FormatGrads, opts)
	if err != nil {
		return nil, err
	}
	return &GradReader{r: rd}, nil
}

// Meta returns the stream's metadata.
func (g *GradReader) Meta() Meta { return g.r.meta }

// Next reads the next record batch; it returns false at the end or on an error (see Err).
func (g *GradReader) Next() bool { return g.r.next(g.decode) }

// Rows returns the current batch's rows. Their Grad slices are views of the
// batch, valid until the next Next.
func (g *GradReader) Rows() []GradRow { return g.rows }

// Err returns the error that stopped Next, nil at a clean end.
func (g *GradReader) Err() error { return g.r.err }

// LastStep returns the step of the last complete batch delivered, or −1.
func (g *GradReader) LastStep() int64 { return g.r.lastStep() }

// Release frees the reader's Arrow resources.
func (g *GradReader) Release() { g.r.rr.Release() }

func (g *GradReader) decode(rec arrow.Record) (int64, error) {
	c := g.r.cols
	d := g.r.meta.Dim
	steps, err := colInt64(rec, c[0], "step")
	if err != nil {
		return 0, err
	}
	if g.kind, err = colString(g.kind, rec, c[1], "kind", KindProbe, KindTrain, KindUpdate); err != nil {
		return 0, err
	}
	pairs, err := colInt64(rec, c[2], "pair")
	if err != nil {
		return 0, err
	}
	if g.side, err = colString(g.side, rec, c[3], "side", SideChosen, SideRejected, SideUpdate); err != nil {
		return 0, err
	}
	tok, err := colInt32(rec, c[4], "token")
	if err != nil {
		return 0, err
	}
	tid, err := colInt32(rec, c[5], "token_id")
	if err != nil {
		return 0, err
	}
	cb := rec.Column(c[6]).(*array.Boolean)
	if cb.Len() != len(steps) {
		return 0, fmt.Errorf("column \"contrastive\" has %d rows, the batch %d", cb.Len(), len(steps))
	}
	vals, err := colFSL[float32](rec, c[7], "grad", d)
	if err != nil {
		return 0, err
	}
	n := len(steps)
	g.rows = growRows(g.rows, n)
	for i := range g.rows {
		ct := int8(-1)
		if cb.IsValid(i) {
			ct = 0
			if cb.Value(i) {
				ct = 1
			}
		}
		g.rows[i] = GradRow{Step: steps[i], Kind: g.kind[i], Pair: pairs[i], Side: g.side[i], Token: tok[i],
			TokenID: tid[i], Contrastive: ct, Grad: vals[i*d : (i+1)*d : (i+1)*d]}
	}
	return lastOf(steps), nil
}

// AnyReader is a reader of whichever train format a stream holds: exactly
// one of Steps, Pairs, Grads, Attrib is set, as Format says.
type AnyReader struct {
	Format string
	Meta   Meta
	Steps  *StepReader
	Pairs  *PairReader
	Grads  *GradReader
	Attrib *AttribReader
}

// OpenAny reads the schema of a train output stream from r, detects its
// format from the metadata and returns the matching reader.
func OpenAny(r io.Reader, name string, opts ...Option) (*AnyReader, error) {
	rd, err := open(r, name, "", opts)
	if err != nil {
		return nil, err
	}
	a := &AnyReader{Format: rd.meta.Format, Meta: rd.meta}
	switch a.Format {
	case FormatSteps:
		a.Steps = &StepReader{r: rd}
	case FormatPairs:
		a.Pairs = &PairReader{r: rd}
	case FormatGrads:
		a.Grads = &GradReader{r: rd}
	case FormatAttrib:
		a.Attrib = &AttribReader{r: rd}
	}
	return a, nil
}

// Release frees the reader's Arrow resources.
func (a *AnyReader) Release() {
	switch {
	case a.Steps != nil:
		a.Steps.Release()
	case a.Pairs != nil:
		a.Pairs.Release()
	case a.Grads != nil:
		a.Grads.Release()
	case a.Attrib != nil:
		a.Attrib.Release()
	}
}

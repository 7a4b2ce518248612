package runfmt

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"entangle/pkg/prefdata"
)

func testMeta() Meta {
	return Meta{RunID: "abc123", Config: `{"lr":0.001}`, ModelConfig: `{"width":4}`, Loss: "dpo", Mode: "pref",
		Groups: []Group{{Name: "wte", Offset: 0, Size: 12}, {Name: "wpe", Offset: 12, Size: 8}, {Name: "lnf.w", Offset: 20, Size: 4}}, Vocab: []string{"a", "b", " c"},
		C: 4, Dim: 24, Sketch: "full", SketchSeed: 1 << 63, Raw: map[string]string{"extra": "x", "format": "ignored"}}
}

// Test data: every value distinct and drawn from a seeded PCG, NaN where a
// column is null for the row's kind.
func testSteps(rng *rand.Rand, step int64) []StepRow {
	r := StepRow{Step: step, Kind: "train"}
	for _, p := range r.floats() {
		*p = rng.NormFloat64()
	}
	e := NullStepRow(step, "eval")
	e.Loss, e.Margin = rng.Float64(), rng.Float64()
	return []StepRow{r, e}
}

func testPairs(rng *rand.Rand, step int64, m Meta) []PairRow {
	var rows []PairRow
	for i := 0; i < 3; i++ {
		r := PairRow{Step: step, Kind: "train", Pair: int64(10*step) + int64(i), LenW: rng.Int32N(50), LenL: rng.Int32N(50)}
		if i == 2 {
			r.Kind = "probe"
		}
		for _, p := range r.scalars() {
			*p = rng.NormFloat64()
		}
		for _, p := range r.after() {
			*p = math.NaN()
			if r.Kind == "probe" {
				*p = rng.NormFloat64()
			}
		}
		for _, v := range []*[]float64{&r.DotG, &r.WWG, &r.LLG} {
			for range m.Groups {
				*v = append(*v, rng.NormFloat64())
			}
		}
		for _, v := range []*[]float32{&r.HidW, &r.HidL} {
			for range m.C {
				*v = append(*v, float32(rng.NormFloat64()))
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func testGrads(rng *rand.Rand, step int64, m Meta) []GradRow {
	rows := []GradRow{
		{Step: step, Kind: "probe", Pair: 7, Side: "chosen", Token: -1, TokenID: -1, Contrastive: -1},
		{Step: step, Kind: "probe", Pair: 7, Side: "rejected", Token: 2, TokenID: 5, Contrastive: 1},
		{Step: step, Kind: "train", Pair: 3, Side: "chosen", Token: 0, TokenID: 1, Contrastive: 0},
		{Step: step, Kind: "update", Pair: -1, Side: "update", Token: -1, TokenID: -1, Contrastive: -1},
	}
	for i := range rows {
		rows[i].Grad = make([]float32, m.Dim)
		for j := range rows[i].Grad {
			rows[i].Grad[j] = float32(rng.NormFloat64())
		}
	}
	return rows
}

func equalRows(t *testing.T, step int64, got, want any) {
	t.Helper()
	if !deepEqualNaN(reflect.ValueOf(got), reflect.ValueOf(want)) {
		t.Fatalf("step %d: rows differ\ngot  %+v\nwant %+v", step, got, want)
	}
}

// deepEqualNaN is reflect.DeepEqual for our row types with NaN == NaN (a
// null reads back as NaN, and NaN != NaN would fail every nullable column).
func deepEqualNaN(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !deepEqualNaN(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !deepEqualNaN(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return a.Interface() == b.Interface()
}

func TestRoundTrip(t *testing.T) {
	m := testMeta()
	const steps = 4
	for _, format := range []string{FormatSteps, FormatPairs, FormatGrads} {
		t.Run(format, func(t *testing.T) {
			wmem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer wmem.AssertSize(t, 0)
			var buf bytes.Buffer
			rng := rand.New(rand.NewPCG(1, 0))
			var want []any
			write, closeW := writerFor(t, format, &buf, m, WithAllocator(wmem))
			for s := int64(0); s < steps; s++ {
				want = append(want, write(rng, s))
			}
			if err := closeW(); err != nil {
				t.Fatal(err)
			}
			rmem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer rmem.AssertSize(t, 0)
			a, err := OpenAny(bytes.NewReader(buf.Bytes()), "rt", WithAllocator(rmem))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			if a.Format != format {
				t.Fatalf("OpenAny format %q, want %q", a.Format, format)
			}
			checkMeta(t, a.Meta, m, format)
			i := 0
			for next(a) {
				equalRows(t, int64(i), rowsOf(a), want[i])
				i++
			}
			if err := errOf(a); err != nil {
				t.Fatal(err)
			}
			if i != steps {
				t.Fatalf("read %d steps, wrote %d", i, steps)
			}
		})
	}
}

func checkMeta(t *testing.T, got, m Meta, format string) {
	t.Helper()
	if got.Format != format || got.Version != Version || got.Producer != "train" || got.RunID != m.RunID ||
		got.Config != m.Config || got.ModelConfig != m.ModelConfig || got.Loss != m.Loss || got.Mode != m.Mode ||
		!reflect.DeepEqual(got.Groups, m.Groups) || !reflect.DeepEqual(got.Vocab, m.Vocab) || got.Raw["extra"] != "x" {
		t.Fatalf("metadata: got %+v", got)
	}
	switch format {
	case FormatPairs:
		if got.C != m.C || got.Raw["G"] != "3" {
			t.Fatalf("pairs metadata: C %d G %q", got.C, got.Raw["G"])
		}
	case FormatGrads:
		if got.Dim != m.Dim || got.Sketch != m.Sketch || got.SketchSeed != m.SketchSeed {
			t.Fatalf("grads metadata: dim %d sketch %q seed %d", got.Dim, got.Sketch, got.SketchSeed)
		}
	}
}

// writerFor returns a function writing one random step of format and Close.
func writerFor(t *testing.T, format string, buf *bytes.Buffer, m Meta, opts ...Option) (func(*rand.Rand, int64) any, func() error) {
	t.Helper()
	switch format {
	case FormatSteps:
		w, err := NewStepWriter(buf, m, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return func(rng *rand.Rand, s int64) any {
			rows := testSteps(rng, s)
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			return rows
		}, w.Close
	case FormatPairs:
		w, err := NewPairWriter(buf, m, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return func(rng *rand.Rand, s int64) any {
			rows := testPairs(rng, s, m)
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			return rows
		}, w.Close
	default:
		w, err := NewGradWriter(buf, m, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return func(rng *rand.Rand, s int64) any {
			rows := testGrads(rng, s, m)
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			return rows
		}, w.Close
	}
}

func next(a *AnyReader) bool {
	switch {
	case a.Steps != nil:
		return a.Steps.Next()
	case a.Pairs != nil:
		return a.Pairs.Next()
	}
	return a.Grads.Next()
}

func rowsOf(a *AnyReader) any {
	switch {
	case a.Steps != nil:
		return a.Steps.Rows()
	case a.Pairs != nil:
		return a.Pairs.Rows()
	}
	return a.Grads.Rows()
}

func errOf(a *AnyReader) error {
	switch {
	case a.Steps != nil:
		return a.Steps.Err()
	case a.Pairs != nil:
		return a.Pairs.Err()
	}
	return a.Grads.Err()
}

// encode writes `steps` random steps of format and returns the stream and
// the byte offset at which each record batch ends.
func encode(t *testing.T, format string, m Meta, steps int, eos bool) ([]byte, []int) {
	t.Helper()
	var buf bytes.Buffer
	rng := rand.New(rand.NewPCG(2, 0))
	write, closeW := writerFor(t, format, &buf, m)
	var ends []int
	for s := 0; s < steps; s++ {
		write(rng, int64(s))
		ends = append(ends, buf.Len())
	}
	if eos {
		if err := closeW(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), ends
}

// TestTruncated cuts streams at batch boundaries, inside batches and inside
// the end-of-stream marker: every step completed before the cut is
// delivered, and the error names the last one.
func TestTruncated(t *testing.T) {
	m := testMeta()
	for _, format := range []string{FormatSteps, FormatPairs, FormatGrads} {
		all, ends := encode(t, format, m, 3, true)
		schemaEnd := ends[0] - 1 // somewhere in the first batch
		cuts := []int{ends[0], ends[1], ends[1] + 1, ends[1] + 9, (ends[1] + ends[2]) / 2, ends[2] - 1, ends[2], ends[2] + 4, schemaEnd}
		for _, cut := range cuts {
			a, err := OpenAny(bytes.NewReader(all[:cut]), "cut")
			if err != nil {
				t.Fatalf("%s cut %d: %v", format, cut, err)
			}
			n := 0
			for next(a) {
				n++
			}
			complete := 0
			for _, e := range ends {
				if e <= cut {
					complete++
				}
			}
			err = errOf(a)
			a.Release()
			if n != complete {
				t.Fatalf("%s cut %d: delivered %d steps, %d were complete", format, cut, n, complete)
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut %d: error %v, want ErrTruncated", format, cut, err)
			}
			want := "before the first complete step"
			if complete > 0 {
				want = "after step " + string(rune('0'+complete-1)) + " (the last complete step)"
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%s cut %d: error %q does not say %q", format, cut, err, want)
			}
		}
		// The complete stream ends cleanly.
		a, err := OpenAny(bytes.NewReader(all), "whole")
		if err != nil {
			t.Fatal(err)
		}
		for next(a) {
		}
		if err := errOf(a); err != nil {
			t.Fatalf("%s: complete stream: %v", format, err)
		}
		a.Release()
	}
}

// schemaOnly returns a stream of one schema and no batches.
func schemaOnly(t *testing.T, fields []arrow.Field, md arrow.Metadata) []byte {
	t.Helper()
	var buf bytes.Buffer
	s := arrow.NewSchema(fields, &md)
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRejects(t *testing.T) {
	m := testMeta()
	pairsMD := m.metadata(FormatPairs)
	withMeta := func(format string, key, val string) arrow.Metadata {
		md := m.metadata(format)
		keys, vals := append([]string(nil), md.Keys()...), append([]string(nil), md.Values()...)
		for i := range keys {
			if keys[i] == key {
				vals[i] = val
			}
		}
		return arrow.NewMetadata(keys, vals)
	}
	var prefgen bytes.Buffer
	c := prefdata.DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 1, 1, 1
	d, err := prefdata.Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := prefdata.WriteStream(&prefgen, d); err != nil {
		t.Fatal(err)
	}
	// An IPC file starts with the magic "ARROW1" and two padding bytes.
	file := append([]byte("ARROW1\x00\x00"), schemaOnly(t, stepsFields(), m.metadata(FormatSteps))...)
	dropped := pairsFields(3, 4)
	dropped = append(dropped[:5], dropped[6:]...) // no ref_w
	retyped := pairsFields(3, 4)
	retyped[7].Type = arrow.PrimitiveTypes.Int64 // len_w
	gradRetyped := gradsFields(24)
	gradRetyped[7].Type = arrow.FixedSizeListOfNonNullable(24, arrow.PrimitiveTypes.Float64)
	noFormat := arrow.NewMetadata([]string{"producer"}, []string{"someone"})

	cases := []struct {
		name, want string
		in         []byte
		open       func([]byte) error
	}{
		{"prefgen", "is a prefgen dataset, not a train output", prefgen.Bytes(), openAny},
		{"no format", "no \"format\" metadata", schemaOnly(t, stepsFields(), noFormat), openAny},
		{"unknown format", "unknown format \"entangle.other\"", schemaOnly(t, stepsFields(), withMeta(FormatSteps, "format", "entangle.other")), openAny},
		{"version", "format_version \"3\" is not supported: this build reads versions 1 to 2 (hint:", schemaOnly(t, stepsFields(), withMeta(FormatSteps, "format_version", "3")), openAny},
		{"other format", "is a entangle.pairs stream, not entangle.steps", schemaOnly(t, pairsFields(3, 4), pairsMD), openSteps},
		{"missing column", "missing column \"ref_w\"", schemaOnly(t, dropped, pairsMD), openPairs},
		{"wrong type", "column \"len_w\" has type int64, want int32", schemaOnly(t, retyped, pairsMD), openPairs},
		{"grad elem type", "column \"grad\" has type fixed_size_list<item: float64>[24], want fixed_size_list<item: float32>[24]", schemaOnly(t, gradRetyped, m.metadata(FormatGrads)), openGrads},
		{"G mismatch", "column \"dot_g\" is a FixedSizeList of 2 values, but the metadata says 3 (G", schemaOnly(t, pairsFields(2, 4), pairsMD), openPairs},
		{"C mismatch", "column \"hid_w\" is a FixedSizeList of 5 values, but the metadata says 4 (C)", schemaOnly(t, pairsFields(3, 5), pairsMD), openPairs},
		{"D mismatch", "column \"grad\" is a FixedSizeList of 23 values, but the metadata says 24 (dim)", schemaOnly(t, gradsFields(23), m.metadata(FormatGrads)), openGrads},
		{"G metadata", "metadata G = \"4\" does not match the 3 groups", schemaOnly(t, pairsFields(3, 4), withMeta(FormatPairs, "G", "4")), openPairs},
		{"groups json", "metadata \"groups\" is not a JSON list", schemaOnly(t, stepsFields(), withMeta(FormatSteps, "groups", "{")), openSteps},
		{"ipc file", "is an Arrow IPC file; train outputs are Arrow streams", file, openAny},
		{"empty", "empty input", nil, openAny},
		{"garbage", "not an Arrow IPC stream", []byte("hello, world, this is not arrow"), openAny},
	}
	for _, c := range cases {
		err := c.open(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "in: ") {
			t.Errorf("%s: error %v, want one containing %q and starting with the input name", c.name, err, c.want)
		}
	}
}

// TestReadsVersion1: a stream of format_version 1 (its config's loss
// parameters under Go field names) is read; 2 is written.
func TestReadsVersion1(t *testing.T) {
	m := testMeta()
	md := m.metadata(FormatSteps)
	for _, v := range []string{"1", Version} {
		keys, vals := md.Keys(), append([]string(nil), md.Values()...)
		vals[md.FindKey("format_version")] = v
		if err := openSteps(schemaOnly(t, stepsFields(), arrow.NewMetadata(keys, vals))); err != nil {
			t.Errorf("format_version %s: %v", v, err)
		}
	}
	if Version != "2" {
		t.Errorf("Version %s: this test and the config's history (Version's doc) want 2", Version)
	}
}

func openAny(b []byte) error {
	a, err := OpenAny(bytes.NewReader(b), "in")
	if err == nil {
		a.Release()
	}
	return err
}
func openSteps(b []byte) error { _, err := NewStepReader(bytes.NewReader(b), "in"); return err }
func openPairs(b []byte) error { _, err := NewPairReader(bytes.NewReader(b), "in"); return err }
func openGrads(b []byte) error { _, err := NewGradReader(bytes.NewReader(b), "in"); return err }

// TestRejectsBatches: corrupt batches behind a valid schema (a null in a
// non-nullable column, an unknown kind) stop the reader with an error naming
// the last complete step.
func TestRejectsBatches(t *testing.T) {
	m := testMeta()
	md := m.metadata(FormatSteps)
	fields := stepsFields()
	fields[0].Nullable = true // so the builder can write the null the reader must refuse
	s := arrow.NewSchema(fields, &md)
	for _, c := range []struct {
		name, want string
		fill       func(b *array.RecordBuilder)
	}{
		{"null step", "column \"step\" has 1 nulls but is not nullable", func(b *array.RecordBuilder) {
			b.Field(0).AppendNull()
			b.Field(1).(*array.StringBuilder).Append("train")
		}},
		{"bad kind", "column \"kind\": row 0 has \"probe\", want one of", func(b *array.RecordBuilder) {
			b.Field(0).(*array.Int64Builder).Append(5)
			b.Field(1).(*array.StringBuilder).Append("probe")
		}},
	} {
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(s))
		b := array.NewRecordBuilder(memory.NewGoAllocator(), s)
		for step := 0; step < 2; step++ {
			if step == 0 {
				b.Field(0).(*array.Int64Builder).Append(0)
				b.Field(1).(*array.StringBuilder).Append("train")
			} else {
				c.fill(b)
			}
			for j := range stepFloatCols {
				b.Field(2 + j).AppendNull()
			}
			rec := b.NewRecord()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		w.Close()
		b.Release()
		// The nullable flag of "step" differs from the spec's, which the
		// reader tolerates (it checks types, and nulls batch by batch).
		r, err := NewStepReader(&buf, "in")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.Next() {
			n++
		}
		if n != 1 || r.Err() == nil || !strings.Contains(r.Err().Error(), c.want) || !strings.Contains(r.Err().Error(), "after step 0") {
			t.Errorf("%s: %d steps, error %v; want 1 step and %q", c.name, n, r.Err(), c.want)
		}
		r.Release()
	}
}

// TestWriterChecks: list lengths that differ from the metadata are refused.
func TestWriterChecks(t *testing.T) {
	m := testMeta()
	var buf bytes.Buffer
	pw, err := NewPairWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	rows := testPairs(rand.New(rand.NewPCG(3, 0)), 0, m)
	rows[1].HidL = rows[1].HidL[:3]
	if err := pw.Write(rows); err == nil {
		t.Error("pairs: short HidL accepted")
	}
	gw, err := NewGradWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	g := testGrads(rand.New(rand.NewPCG(3, 0)), 0, m)
	g[0].Grad = append(g[0].Grad, 1)
	if err := gw.Write(g); err == nil {
		t.Error("grads: long Grad accepted")
	}
	bad := m
	bad.Dim = 0
	if _, err := NewGradWriter(&buf, bad); err == nil {
		t.Error("grads: dim 0 accepted")
	}
	bad = m
	bad.Groups = nil
	if _, err := NewPairWriter(&buf, bad); err == nil {
		t.Error("pairs: no groups accepted")
	}
}

// flushCounter counts Flush calls.
type flushCounter struct {
	bytes.Buffer
	n int
}

func (f *flushCounter) Flush() error { f.n++; return nil }

// TestFlushPerStep: each Write flushes, and what is written so far reads
// back as complete steps while the writer is still open.
func TestFlushPerStep(t *testing.T) {
	var f flushCounter
	w, err := NewStepWriter(&f, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 0))
	for s := int64(0); s < 3; s++ {
		if err := w.Write(testSteps(rng, s)); err != nil {
			t.Fatal(err)
		}
		if f.n != int(s)+1 {
			t.Fatalf("after %d writes, %d flushes", s+1, f.n)
		}
		r, err := NewStepReader(bytes.NewReader(f.Bytes()), "live")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.Next() {
			n++
		}
		if n != int(s)+1 || !errors.Is(r.Err(), ErrTruncated) {
			t.Fatalf("live read after step %d: %d steps, %v", s, n, r.Err())
		}
		r.Release()
	}
	w.Close()
}

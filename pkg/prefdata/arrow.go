package prefdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"entangle/pkg/arrowio"
)

// Format and FormatVersion identify prefgen's Arrow files (schema metadata keys
// "format" and "format_version"). The version changes when a column changes
// meaning or type; readers refuse versions they do not know.
const (
	Format        = "entangle.prefdata"
	FormatVersion = "1"
)

// batchRows is the number of examples per record batch.
const batchRows = 1024

var (
	listI32  = arrow.ListOf(arrow.PrimitiveTypes.Int32)
	listBool = arrow.ListOf(arrow.FixedWidthTypes.Boolean)
)

// Schema returns the Arrow schema of a dataset, with its metadata.
func Schema(d *Dataset) *arrow.Schema {
	vocab, _ := json.Marshal(d.Vocab.Tokens)
	keys := []string{"format", "format_version", "producer", "tokenizer", "vocab_size", "config", "vocab"}
	vals := []string{Format, FormatVersion, d.Producer, d.Tokenizer, fmt.Sprint(d.Vocab.Size()), d.Config, string(vocab)}
	if d.Identity != nil {
		b, _ := json.Marshal(d.Identity)
		keys, vals = append(keys, "tokenizer_identity"), append(vals, string(b))
	}
	if d.Stats != nil {
		b, _ := json.Marshal(d.Stats)
		keys, vals = append(keys, "import_stats"), append(vals, string(b))
	}
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &md)
}

var fields = []arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "split", Type: arrow.BinaryTypes.String},
	{Name: "prompt", Type: listI32},
	{Name: "chosen", Type: listI32},
	{Name: "rejected", Type: listI32},
	{Name: "chosen_contrastive", Type: listBool},
	{Name: "rejected_contrastive", Type: listBool},
	{Name: "prompt_len", Type: arrow.PrimitiveTypes.Int32},
	{Name: "chosen_len", Type: arrow.PrimitiveTypes.Int32},
	{Name: "rejected_len", Type: arrow.PrimitiveTypes.Int32},
	{Name: "shared_tokens", Type: arrow.PrimitiveTypes.Int32},
	{Name: "edit_distance", Type: arrow.PrimitiveTypes.Int32},
	{Name: "chosen_reward", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "rejected_reward", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}

// recordWriter is what ipc.Writer and ipc.FileWriter have in common.
type recordWriter interface {
	Write(arrow.Record) error
	Close() error
}

// WriteStream writes d as an Arrow IPC stream to w.
func WriteStream(w io.Writer, d *Dataset) error {
	return WriteStreamContext(context.Background(), w, d)
}

// WriteStreamContext is WriteStream that checks ctx between record batches
// and returns its error when it is cancelled (the stream then has no end
// marker, so Read refuses it).
func WriteStreamContext(ctx context.Context, w io.Writer, d *Dataset) error {
	s := Schema(d)
	return writeRecords(ctx, ipc.NewWriter(w, ipc.WithSchema(s)), s, d)
}

// WriteFile writes d as an Arrow IPC file to w (the file format needs to seek).
func WriteFile(w io.WriteSeeker, d *Dataset) error {
	return WriteFileContext(context.Background(), w, d)
}

// WriteFileContext is WriteFile that checks ctx between record batches and
// returns its error when it is cancelled.
func WriteFileContext(ctx context.Context, w io.WriteSeeker, d *Dataset) error {
	s := Schema(d)
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(s))
	if err != nil {
		return err
	}
	return writeRecords(ctx, fw, s, d)
}

func writeRecords(ctx context.Context, w recordWriter, s *arrow.Schema, d *Dataset) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	ints := func(i int, v []int32) {
		lb := b.Field(i).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int32Builder).AppendValues(v, nil)
	}
	bools := func(i int, v []bool) {
		lb := b.Field(i).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.BooleanBuilder).AppendValues(v, nil)
	}
	reward := func(i int, v float64) {
		if math.IsNaN(v) {
			b.Field(i).AppendNull()
		} else {
			b.Field(i).(*array.Float64Builder).Append(v)
		}
	}
	flush := func() error {
		rec := b.NewRecord()
		defer rec.Release()
		return w.Write(rec)
	}
	for i := range d.Examples {
		e := &d.Examples[i]
		b.Field(0).(*array.Int64Builder).Append(e.ID)
		b.Field(1).(*array.StringBuilder).Append(e.Split)
		ints(2, e.Prompt)
		ints(3, e.Chosen)
		ints(4, e.Rejected)
		bools(5, e.ChosenContrastive)
		bools(6, e.RejectedContrastive)
		b.Field(7).(*array.Int32Builder).Append(int32(len(e.Prompt)))
		b.Field(8).(*array.Int32Builder).Append(int32(len(e.Chosen)))
		b.Field(9).(*array.Int32Builder).Append(int32(len(e.Rejected)))
		b.Field(10).(*array.Int32Builder).Append(int32(e.SharedTokens()))
		b.Field(11).(*array.Int32Builder).Append(int32(EditDistance(e.Chosen, e.Rejected)))
		reward(12, e.ChosenReward)
		reward(13, e.RejectedReward)
		if (i+1)%batchRows == 0 {
			if err := ctx.Err(); err != nil {
				return err // no Close: no end-of-stream marker
			}
			if err := flush(); err != nil {
				w.Close()
				return err
			}
		}
	}
	if len(d.Examples)%batchRows != 0 || len(d.Examples) == 0 {
		if err := flush(); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// posErr formats an error at a record of a named input: "name:record N: msg".
func posErr(name string, rec int, format string, args ...any) error {
	return fmt.Errorf("%s:record %d: %s", name, rec, fmt.Sprintf(format, args...))
}

// Read reads a dataset written by WriteStream or WriteFile from r (either IPC
// format, detected from the first bytes). name is used in error messages.
// It validates the format, the version, the columns and every example.
func Read(r io.Reader, name string) (d *Dataset, err error) {
	// Corrupt IPC metadata can make the Arrow readers panic; report it as an
	// error at the input instead.
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("%s: corrupt Arrow data (%v)", name, p)
		}
	}()
	// Datasets are small: read the input whole, so that a corrupt length in
	// the IPC metadata can be bounded by the input's size.
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: empty input (expected an Arrow stream or file from prefgen)", name)
	}
	if err := arrowio.Check(all); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	mem := ipc.WithAllocator(arrowio.InputAllocator(len(all)))
	var rr array.RecordReader
	if arrowio.IsFile(all) {
		fr, err := ipc.NewFileReader(bytes.NewReader(all), mem)
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable Arrow file: %v", name, err)
		}
		defer fr.Close()
		rr = &fileRecords{fr: fr}
	} else {
		sr, err := ipc.NewReader(bytes.NewReader(all), mem)
		if err != nil {
			return nil, fmt.Errorf("%s: not an Arrow stream or file: %v", name, err)
		}
		defer sr.Release()
		rr = sr
	}
	d, err = readHeader(rr.Schema(), name)
	if err != nil {
		return nil, err
	}
	rec := 0
	seen := map[int64]int{}
	for rr.Next() {
		if err := arrowio.ValidateRecord(rr.Record()); err != nil {
			return nil, fmt.Errorf("%s:record %d: corrupt Arrow data: %v", name, rec, err)
		}
		if err := appendExamples(d, rr.Record(), name, &rec, seen); err != nil {
			return nil, err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:record %d: truncated or corrupt Arrow data: %v", name, rec, err)
	}
	// The stream reader takes a clean end of input after a record batch for
	// the end of the stream; a writer that finished wrote the end-of-stream
	// marker, so its absence means the stream was cut.
	if !arrowio.IsFile(all) && !bytes.HasSuffix(all, streamEnd) {
		return nil, fmt.Errorf("%s:record %d: truncated Arrow stream: no end-of-stream marker after the last record batch (the writer did not finish)", name, rec)
	}
	return d, nil
}

// fileRecords adapts an ipc.FileReader to array.RecordReader.
type fileRecords struct {
	fr  *ipc.FileReader
	i   int
	cur arrow.Record
	err error
}

func (f *fileRecords) Schema() *arrow.Schema { return f.fr.Schema() }
func (f *fileRecords) Next() bool {
	if f.i >= f.fr.NumRecords() {
		return false
	}
	f.cur, f.err = f.fr.Record(f.i)
	f.i++
	return f.err == nil
}
func (f *fileRecords) Record() arrow.Record { return f.cur }
func (f *fileRecords) Err() error           { return f.err }
func (f *fileRecords) Retain()              {}
func (f *fileRecords) Release()             {}

func readHeader(s *arrow.Schema, name string) (*Dataset, error) {
	md := s.Metadata()
	get := func(k string) string {
		if i := md.FindKey(k); i >= 0 {
			return md.Values()[i]
		}
		return ""
	}
	switch f := get("format"); {
	case f == "":
		return nil, fmt.Errorf("%s: not a prefgen dataset (no \"format\" in the Arrow metadata)", name)
	case f != Format:
		return nil, fmt.Errorf("%s: not a prefgen dataset: format is %q, want %q", name, f, Format)
	}
	if v := get("format_version"); v != FormatVersion {
		return nil, fmt.Errorf("%s: prefdata format version %q is not supported (this build reads version %s); regenerate it with this prefgen", name, v, FormatVersion)
	}
	for _, f := range fields {
		idx := s.FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: missing column %q", name, f.Name)
		}
		if got := s.Field(idx[0]).Type; !arrow.TypeEqual(got, f.Type) {
			return nil, fmt.Errorf("%s: column %q has type %s, want %s", name, f.Name, got, f.Type)
		}
	}
	var toks []string
	if err := json.Unmarshal([]byte(get("vocab")), &toks); err != nil {
		return nil, fmt.Errorf("%s: bad vocabulary in the metadata: %v", name, err)
	}
	v, err := NewVocab(toks)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	d := &Dataset{Vocab: v, Tokenizer: get("tokenizer"), Producer: get("producer"), Config: get("config")}
	if s := get("tokenizer_identity"); s != "" {
		d.Identity = new(TokenizerIdentity)
		if err := json.Unmarshal([]byte(s), d.Identity); err != nil {
			return nil, fmt.Errorf("%s: bad tokenizer_identity in the metadata: %v", name, err)
		}
	}
	if s := get("import_stats"); s != "" {
		d.Stats = new(ImportStats)
		if err := json.Unmarshal([]byte(s), d.Stats); err != nil {
			return nil, fmt.Errorf("%s: bad import_stats in the metadata: %v", name, err)
		}
	}
	return d, nil
}

// streamEnd is the Arrow IPC stream's end-of-stream marker: a continuation
// token and a zero metadata length.
var streamEnd = []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}

func appendExamples(d *Dataset, rec arrow.Record, name string, n *int, seen map[int64]int) error {
	col := func(f string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(f)[0]) }
	ids := col("id").(*array.Int64)
	splits := col("split").(*array.String)
	lists := func(f string) (*array.List, *array.Int32) {
		l := col(f).(*array.List)
		return l, l.ListValues().(*array.Int32)
	}
	flags := func(f string) (*array.List, *array.Boolean) {
		l := col(f).(*array.List)
		return l, l.ListValues().(*array.Boolean)
	}
	pl, pv := lists("prompt")
	cl, cv := lists("chosen")
	rl, rv := lists("rejected")
	cfl, cfv := flags("chosen_contrastive")
	rfl, rfv := flags("rejected_contrastive")
	cr := col("chosen_reward").(*array.Float64)
	rrw := col("rejected_reward").(*array.Float64)
	V := int32(d.Vocab.Size())
	getInts := func(l *array.List, v *array.Int32, i int, what string) ([]int32, error) {
		if l.IsNull(i) {
			return nil, posErr(name, *n, "%s is null", what)
		}
		s, e := l.ValueOffsets(i)
		out := append([]int32(nil), v.Int32Values()[s:e]...)
		for _, t := range out {
			if t < 0 || t >= V {
				return nil, posErr(name, *n, "%s has token id %d outside the vocabulary [0, %d)", what, t, V)
			}
		}
		return out, nil
	}
	getFlags := func(l *array.List, v *array.Boolean, i int) []bool {
		s, e := l.ValueOffsets(i)
		out := make([]bool, e-s)
		for k := range out {
			out[k] = v.Value(int(s) + k)
		}
		return out
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		var e Example
		var err error
		e.ID, e.Split = ids.Value(i), splits.Value(i)
		if first, dup := seen[e.ID]; dup {
			return posErr(name, *n, "duplicate example id %d (also record %d)", e.ID, first)
		}
		seen[e.ID] = *n
		if e.Split != SplitSFT && e.Split != SplitTrain && e.Split != SplitTest {
			return posErr(name, *n, "unknown split %q", e.Split)
		}
		if e.Prompt, err = getInts(pl, pv, i, "prompt"); err != nil {
			return err
		}
		if e.Chosen, err = getInts(cl, cv, i, "chosen"); err != nil {
			return err
		}
		if e.Rejected, err = getInts(rl, rv, i, "rejected"); err != nil {
			return err
		}
		if len(e.Prompt) == 0 || len(e.Chosen) == 0 || len(e.Rejected) == 0 {
			return posErr(name, *n, "empty prompt or response")
		}
		e.ChosenContrastive = getFlags(cfl, cfv, i)
		e.RejectedContrastive = getFlags(rfl, rfv, i)
		if len(e.ChosenContrastive) != len(e.Chosen) || len(e.RejectedContrastive) != len(e.Rejected) {
			return posErr(name, *n, "contrastive flags do not match the response lengths")
		}
		e.ChosenReward, e.RejectedReward = math.NaN(), math.NaN()
		if !cr.IsNull(i) {
			e.ChosenReward = cr.Value(i)
		}
		if !rrw.IsNull(i) {
			e.RejectedReward = rrw.Value(i)
		}
		d.Examples = append(d.Examples, e)
		*n++
	}
	return nil
}

package arrowcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Format names of the two Arrow IPC encodings, as they appear in
// [FileSummary.Format].
const (
	FormatFile   = "file"   // IPC file: "ARROW1" magic, footer with random access
	FormatStream = "stream" // IPC stream: a sequence of messages, no magic
)

// Column kinds, as they appear in [ColumnSummary.Kind]. The kind decides
// which checksum fields are set.
const (
	KindInt    = "int"    // signed or unsigned integers of any width
	KindFloat  = "float"  // float32 and float64
	KindBool   = "bool"   // booleans, summed as 0/1
	KindString = "string" // utf8 and large_utf8
	KindList   = "list"   // list, large_list, fixed_size_list
	KindOther  = "other"  // anything else: counts only
)

// ChildSuffix is appended to a list column's name to name its child column,
// so "grad" of type List<float32> has the child "grad[]", and a list of lists
// "x" has "x[]" and "x[][]". Child field names ("item", "element") are not
// used because writers choose them differently.
const ChildSuffix = "[]"

// Manifest is the JSON document written by arrowsum and read by the Node
// checkers in interop/.
type Manifest struct {
	Files []FileSummary `json:"files"`
}

// FileSummary describes one Arrow IPC file or stream as read by Arrow Go.
type FileSummary struct {
	// Path is the file's path exactly as it was given to SummarizeFile.
	Path string `json:"path"`
	// Format is FormatFile or FormatStream, detected from the magic bytes.
	Format string `json:"format"`
	// Batches is the number of record batches.
	Batches int `json:"batches"`
	// Rows is the total number of rows over all batches.
	Rows int64 `json:"rows"`
	// MetadataKeys lists the schema's key/value metadata keys, in schema order.
	MetadataKeys []string `json:"metadata_keys"`
	// Metadata holds the values of the keys "format" and "format_version",
	// when present; other keys are only listed in MetadataKeys.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Columns lists the schema's fields in order, each list column followed
	// by its child (recursively).
	Columns []ColumnSummary `json:"columns"`
}

// ColumnSummary holds the counts and checksum of one column (or list child)
// over all record batches.
type ColumnSummary struct {
	// Name is the field name; list children append ChildSuffix.
	Name string `json:"name"`
	// Type is Arrow Go's type string, for humans (readers spell types
	// differently, so the checkers do not compare it).
	Type string `json:"type"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Values is the number of slots, null or not. For a list child, it is
	// the number of elements inside the non-null lists.
	Values int64 `json:"values"`
	// Nulls is the number of null slots among Values.
	Nulls int64 `json:"nulls"`
	// Sum is the float64 sum of the non-null values (KindInt, KindBool,
	// KindFloat), added in row order for floats and rounded once from the
	// exact sum for ints and bools.
	Sum *Float `json:"sum,omitempty"`
	// AbsSum is Σ|x| over the non-null values (KindFloat only); it scales
	// the tolerance of float comparisons.
	AbsSum *Float `json:"abs_sum,omitempty"`
	// IntSum is the exact sum of the non-null values as a decimal integer
	// (KindInt and KindBool only).
	IntSum string `json:"int_sum,omitempty"`
	// Bytes is the total UTF-8 byte length of the non-null values
	// (KindString only).
	Bytes *int64 `json:"bytes,omitempty"`
}

// Float is a float64 that survives JSON even when it is not finite: NaN and
// ±Inf are written as the strings "NaN", "+Inf" and "-Inf".
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(`"NaN"`), nil
	case math.IsInf(x, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(x, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(x)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("arrowcheck: bad float %s", b)
		}
		*f = Float(x)
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*f = Float(x)
	return nil
}

// arrowMagic opens an IPC file (and closes it); a stream starts with a
// message instead.
var arrowMagic = []byte("ARROW1")

// ReadAtSeeker is what SummarizeReader needs: random access for the IPC file
// format, sequential reads for the stream format. *os.File and
// *bytes.Reader satisfy it.
type ReadAtSeeker interface {
	io.Reader
	io.ReaderAt
	io.Seeker
}

// SummarizeFile opens path and summarizes it with SummarizeReader. The
// summary's Path is path as given.
func SummarizeFile(mem memory.Allocator, path string) (FileSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSummary{}, fmt.Errorf("arrowcheck: %w", err)
	}
	defer f.Close()
	return SummarizeReader(mem, path, f)
}

// SummarizeReader reads an Arrow IPC file or stream from r (the format is
// detected by the "ARROW1" magic) and returns its summary; name is used for
// Path and in errors. Memory comes from mem and is all released on return.
// A reader panic on corrupt input (Arrow Go's FileReader can panic on bad
// flatbuffers) is returned as an error.
func SummarizeReader(mem memory.Allocator, name string, r ReadAtSeeker) (s FileSummary, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = FileSummary{}, fmt.Errorf("arrowcheck: %s: reader panic: %v", name, p)
		}
	}()
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return FileSummary{}, fmt.Errorf("arrowcheck: %s: %w", name, err)
	}
	mem = cappedAllocator{Allocator: mem, max: allocFloor + allocExpansion*size}
	head := make([]byte, len(arrowMagic))
	n, _ := r.ReadAt(head, 0)
	s = FileSummary{Path: name, Format: FormatStream}
	if n == len(head) && bytes.Equal(head, arrowMagic) {
		s.Format = FormatFile
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return FileSummary{}, fmt.Errorf("arrowcheck: %s: %w", name, err)
	}
	var t *tally
	if s.Format == FormatFile {
		fr, err := ipc.NewFileReader(r, ipc.WithAllocator(mem))
		if err != nil {
			return FileSummary{}, fmt.Errorf("arrowcheck: %s: %w", name, err)
		}
		defer fr.Close()
		t = newTally(fr.Schema())
		for i := 0; i < fr.NumRecords(); i++ {
			rec, err := fr.RecordAt(i)
			if err != nil {
				return FileSummary{}, fmt.Errorf("arrowcheck: %s: batch %d: %w", name, i, err)
			}
			err = t.addRecord(rec)
			rec.Release()
			if err != nil {
				return FileSummary{}, fmt.Errorf("arrowcheck: %s: batch %d: %w", name, i, err)
			}
		}
	} else {
		rr, err := ipc.NewReader(bufio.NewReaderSize(r, 1<<20), ipc.WithAllocator(mem))
		if err != nil {
			return FileSummary{}, fmt.Errorf("arrowcheck: %s: %w", name, err)
		}
		defer rr.Release()
		t = newTally(rr.Schema())
		for rr.Next() {
			if err := t.addRecord(rr.Record()); err != nil {
				return FileSummary{}, fmt.Errorf("arrowcheck: %s: batch %d: %w", name, t.batches, err)
			}
		}
		if err := rr.Err(); err != nil {
			return FileSummary{}, fmt.Errorf("arrowcheck: %s: after batch %d: %w", name, t.batches, err)
		}
	}
	s.Batches, s.Rows = t.batches, t.rows
	s.MetadataKeys, s.Metadata = metadataOf(t.schema)
	s.Columns = t.summaries()
	return s, nil
}

// Bounds of one allocation while reading an input of n bytes: allocFloor +
// allocExpansion·n. Arrow Go sizes each buffer from the message metadata
// before reading it, so a corrupt length (hundreds of GB) would kill the
// process with "out of memory" instead of returning an error. Real buffers
// are at most the file size, or their compressed size times the codec's
// ratio (well under 4096 even for all-zero zstd blocks of small files).
const (
	allocFloor     = 1 << 30
	allocExpansion = 4096
)

// errAllocCap is the panic value of cappedAllocator; SummarizeReader
// recovers it into an error.
const errAllocCap = "arrowcheck: buffer larger than the input can hold (corrupt length?)"

// cappedAllocator panics with errAllocCap on any single allocation above max.
type cappedAllocator struct {
	memory.Allocator
	max int64
}

// Allocate implements memory.Allocator.
func (a cappedAllocator) Allocate(n int) []byte {
	if int64(n) > a.max {
		panic(errAllocCap)
	}
	return a.Allocator.Allocate(n)
}

// Reallocate implements memory.Allocator.
func (a cappedAllocator) Reallocate(n int, b []byte) []byte {
	if int64(n) > a.max {
		panic(errAllocCap)
	}
	return a.Allocator.Reallocate(n, b)
}

// metadataOf returns the schema's metadata keys (never nil, so JSON shows
// []) and the values of "format" and "format_version".
func metadataOf(schema *arrow.Schema) ([]string, map[string]string) {
	md := schema.Metadata()
	keys := append([]string{}, md.Keys()...)
	var vals map[string]string
	for _, k := range []string{"format", "format_version"} {
		if v, ok := md.GetValue(k); ok {
			if vals == nil {
				vals = map[string]string{}
			}
			vals[k] = v
		}
	}
	return keys, vals
}

// WriteJSON writes m to w as indented JSON with a final newline (type
// strings keep their '<' and '>').
func (m *Manifest) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

package arrowcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func colString(c ColumnSummary) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// extraSchema covers what the fixtures do not (the Node readers cannot all
// read it): uint64 and int64 sums beyond int64, LargeList, a list of lists,
// and a type of KindOther.
var extraSchema = arrow.NewSchema([]arrow.Field{
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "ll", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	{Name: "nested", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int32)), Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

// extraRows has sentinel rows 0 and 4 (values 1000) around the rows 1..3 that
// the tests keep by slicing, so any offset bug counts a 1000. The integer
// columns are built separately (extraU64, extraI64): Arrow's JSON reader
// goes through float64 and cannot hold them.
const extraRows = `[
 {"ll": [1000], "nested": [[1000]], "d": 1},
 {"ll": [1.5, -2.5], "nested": [[1, 2], [3]], "d": 2},
 {"ll": [], "nested": null, "d": null},
 {"ll": null, "nested": [[], null, [4]], "d": 3},
 {"ll": [1000, 1000], "nested": [[1000]], "d": 4}
]`

var (
	extraU64 = []uint64{1000, math.MaxUint64, math.MaxUint64, 0, 1000}
	extraI64 = []int64{1000, math.MinInt64, math.MinInt64, math.MaxInt64, 1000}
	// extraU64Valid marks row 3 of u64 null.
	extraU64Valid = []bool{true, true, true, false, true}
)

// wantExtraColumns is the summary of rows 1..3 of extraRows, by hand.
var wantExtraColumns = []ColumnSummary{
	// 2·(2^64−1) = 2^65 − 2 = 36893488147419103230; as float64, 2^65.
	intCol("u64", "uint64", 3, 1, "36893488147419103230", 36893488147419103232),
	// −2^63 − 2^63 + (2^63 − 1) = −2^63 − 1; as float64, −2^63.
	intCol("i64", "int64", 3, 0, "-9223372036854775809", -9223372036854775808),
	listCol("ll", "large_list<item: float64, nullable>", 3, 1),
	// [1.5, −2.5] and []: 2 items, sum −1, |…| 4.
	floatCol("ll[]", "float64", 2, 0, -1, 4),
	listCol("nested", "list<item: list<item: int32, nullable>, nullable>", 3, 1),
	// [[1,2],[3]] and [[],null,[4]]: 5 inner lists, one null.
	listCol("nested[]", "list<item: int32, nullable>", 5, 1),
	// [1,2], [3], [], [4]: 4 items, sum 10.
	intCol("nested[][]", "int32", 4, 0, "10", 10),
	{Name: "d", Type: "date32", Kind: KindOther, Values: 3, Nulls: 1},
}

func extraRecord(t *testing.T, mem memory.Allocator) arrow.Record {
	t.Helper()
	fromJSON := arrow.NewSchema(extraSchema.Fields()[2:], nil)
	jrec, _, err := array.RecordFromJSON(mem, fromJSON, strings.NewReader(extraRows))
	if err != nil {
		t.Fatal(err)
	}
	defer jrec.Release()
	ub := array.NewUint64Builder(mem)
	defer ub.Release()
	ub.AppendValues(extraU64, extraU64Valid)
	u := ub.NewArray()
	defer u.Release()
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.AppendValues(extraI64, nil)
	i := ib.NewArray()
	defer i.Release()
	cols := append([]arrow.Array{u, i}, jrec.Columns()...)
	return array.NewRecord(extraSchema, cols, jrec.NumRows())
}

// TestTallySliced checks the column walk on a sliced in-memory record, whose
// arrays (and list children) start at non-zero offsets.
func TestTallySliced(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := extraRecord(t, mem)
	defer rec.Release()
	sl := rec.NewSlice(1, 4)
	defer sl.Release()
	tl := newTally(extraSchema)
	if err := tl.addRecord(sl); err != nil {
		t.Fatal(err)
	}
	compareSummary(t, FileSummary{Path: "slice", Columns: tl.summaries()}, FileSummary{Path: "slice", Columns: wantExtraColumns})
}

// TestSummarizeRoundTrip writes the sliced record, split into two batches,
// as IPC file and stream, and summarizes the bytes.
func TestSummarizeRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := extraRecord(t, mem)
			defer rec.Release()
			b1, b2 := rec.NewSlice(1, 2), rec.NewSlice(2, 4)
			defer b1.Release()
			defer b2.Release()
			md := arrow.NewMetadata([]string{"format_version", "other"}, []string{"7", "x"})
			schema := arrow.NewSchema(extraSchema.Fields(), &md)
			data := writeIPC(t, stream, schema, mem, b1, b2)
			got, err := SummarizeReader(mem, "mem", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want := FileSummary{Path: "mem", Format: FormatFile, Batches: 2, Rows: 3,
				MetadataKeys: []string{"format_version", "other"}, Metadata: map[string]string{"format_version": "7"},
				Columns: wantExtraColumns}
			if stream {
				want.Format = FormatStream
			}
			compareSummary(t, got, want)
		})
	}
}

// writeIPC writes recs as an IPC stream or file (through a temporary file:
// the file writer needs to seek) and returns the bytes.
func writeIPC(t *testing.T, stream bool, schema *arrow.Schema, mem memory.Allocator, recs ...arrow.Record) []byte {
	t.Helper()
	w, err := os.CreateTemp(t.TempDir(), "ipc")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	type writer interface {
		Write(arrow.Record) error
		Close() error
	}
	var iw writer
	if stream {
		iw = ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	} else {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		iw = fw
	}
	for _, r := range recs {
		if err := iw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(w.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSummarizeEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)}}, nil)
	data := writeIPC(t, false, schema, mem)
	got, err := SummarizeReader(mem, "empty", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// No batches: the columns are still listed, with zero counts.
	want := FileSummary{Path: "empty", Format: FormatFile, MetadataKeys: []string{}, Columns: []ColumnSummary{
		listCol("x", "list<item: float32, nullable>", 0, 0),
		floatCol("x[]", "float32", 0, 0, 0, 0),
	}}
	compareSummary(t, got, want)
}

// TestSummarizeCorrupt checks that truncated input gives an error. (Random
// byte damage is not tested: Arrow Go v17 sizes slices from flatbuffer
// counts without checks, so some damage ends in "out of memory".)
func TestSummarizeCorrupt(t *testing.T) {
	mem := memory.NewGoAllocator() // a failed read may leave buffers behind
	dir := t.TempDir()
	paths, err := WriteFixtures(mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			data []byte
		}{
			{"empty", nil},
			{"truncated by 16 bytes", data[:len(data)-16]},
			{"first half", data[:len(data)/2]},
		} {
			if s, err := SummarizeReader(mem, p, bytes.NewReader(tc.data)); err == nil {
				t.Errorf("%s %s: no error, summary %+v", p, tc.name, s)
			}
		}
	}
}

// TestCappedAllocator checks the guard against corrupt buffer lengths (a
// length of hundreds of GB would otherwise abort the process).
func TestCappedAllocator(t *testing.T) {
	a := cappedAllocator{Allocator: memory.NewGoAllocator(), max: 64}
	if b := a.Allocate(64); len(b) != 64 {
		t.Errorf("Allocate(64) gave %d bytes", len(b))
	}
	for _, f := range []func(){
		func() { a.Allocate(65) },
		func() { a.Reallocate(1<<40, make([]byte, 8)) },
	} {
		func() {
			defer func() {
				if p := recover(); p != errAllocCap {
					t.Errorf("recovered %v, want %q", p, errAllocCap)
				}
			}()
			f()
		}()
	}
}

func TestFloatJSON(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		json string
	}{
		{1.5, `1.5`},
		{-0.1, `-0.1`},
		{9007199254741016, `9007199254741016`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
	} {
		b, err := json.Marshal(Float(tc.x))
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(Float(%v)) = %s, %v; want %s", tc.x, b, err, tc.json)
		}
		var back Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("Unmarshal(%s): %v", b, err)
		} else if float64(back) != tc.x && !(math.IsNaN(tc.x) && math.IsNaN(float64(back))) {
			t.Errorf("Unmarshal(%s) = %v, want %v", b, back, tc.x)
		}
	}
}

// TestManifestJSON pins the JSON field names that interop/*.js read.
func TestManifestJSON(t *testing.T) {
	m := Manifest{Files: []FileSummary{{
		Path: "a.arrows", Format: FormatStream, Batches: 2, Rows: 3,
		MetadataKeys: []string{"format"}, Metadata: map[string]string{"format": "f"},
		Columns: []ColumnSummary{
			intCol("n", "int64", 3, 1, "5", 5),
			floatCol("x", "float32", 3, 0, math.NaN(), 2),
			{Name: "s", Type: "utf8", Kind: KindString, Values: 3, Nulls: 0, Bytes: iptr(4)},
		},
	}}}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	want := `{"files":[{"path":"a.arrows","format":"stream","batches":2,"rows":3,"metadata_keys":["format"],"metadata":{"format":"f"},"columns":[` +
		`{"name":"n","type":"int64","kind":"int","values":3,"nulls":1,"sum":5,"int_sum":"5"},` +
		`{"name":"x","type":"float32","kind":"float","values":3,"nulls":0,"sum":"NaN","abs_sum":2},` +
		`{"name":"s","type":"utf8","kind":"string","values":3,"nulls":0,"bytes":4}]}]}`
	if compact.String() != want {
		t.Errorf("WriteJSON =\n%s\nwant\n%s", compact.String(), want)
	}
}

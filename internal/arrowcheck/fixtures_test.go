package arrowcheck

import (
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Column constructors for the expected manifests.
func fptr(x float64) *Float { f := Float(x); return &f }
func iptr(x int64) *int64   { return &x }

func intCol(name, typ string, values, nulls int64, exact string, sum float64) ColumnSummary {
	return ColumnSummary{Name: name, Type: typ, Kind: KindInt, Values: values, Nulls: nulls, IntSum: exact, Sum: fptr(sum)}
}

func boolCol(name, typ string, values, nulls int64, trues int64) ColumnSummary {
	c := intCol(name, typ, values, nulls, "", float64(trues))
	c.Kind, c.IntSum = KindBool, strconv.FormatInt(trues, 10)
	return c
}

func floatCol(name, typ string, values, nulls int64, sum, abs float64) ColumnSummary {
	return ColumnSummary{Name: name, Type: typ, Kind: KindFloat, Values: values, Nulls: nulls, Sum: fptr(sum), AbsSum: fptr(abs)}
}

func listCol(name, typ string, values, nulls int64) ColumnSummary {
	return ColumnSummary{Name: name, Type: typ, Kind: KindList, Values: values, Nulls: nulls}
}

// The expected summaries of the fixtures, summed by hand from the tables in
// fixtures.go.
var (
	wantScalarColumns = []ColumnSummary{
		// 1 - 2 + 2147483647 - 2147483648 + 5 + 6 + 8 + 9 = 26 (two nulls).
		intCol("i32", "int32", 10, 2, "26", 26),
		// (2^53+1) + 1 - 4 + 4 + 5 - 6 + 7 + 8 + 9 = 2^53 + 25 = 9007199254741017;
		// as float64 it rounds (a tie, to even) to 2^53 + 24.
		intCol("i64", "int64", 10, 1, "9007199254741017", 9007199254741016),
		// 0.5 - 1.25 + 3 + 0.125 - 0.0625 + 100 + 2.5 - 8 = 96.8125,
		// |…| = 0.5 + 1.25 + 3 + 0.125 + 0.0625 + 100 + 2.5 + 8 = 115.4375 (all dyadic: exact).
		floatCol("f32", "float32", 10, 2, 96.8125, 115.4375),
		// 0.25 + 0.5 + 1.5 - 2 + 1024 - 0.75 + 3 + 0.125 + 6 = 1032.625, |…| = 1038.125.
		floatCol("f64", "float64", 10, 1, 1032.625, 1038.125),
		// true at rows 0, 3, 4, 8, 9.
		boolCol("b", "bool", 10, 2, 5),
		// "a" 1 + "" 0 + "héllo" 6 + "日本" 6 + "xyz" 3 + "ok" 2 + "∑" 3 + "end" 3 = 24 bytes.
		{Name: "s", Type: "utf8", Kind: KindString, Values: 10, Nulls: 2, Bytes: iptr(24)},
	}
	wantListColumns = []ColumnSummary{
		intCol("step", "int64", 6, 0, "15", 15), // 0+1+…+5
		listCol("li32", "list<item: int32, nullable>", 6, 1),
		// Non-null lists hold 2+0+3+1+2 = 8 items, one null; 1+2+3+4+5-6+7 = 16.
		intCol("li32[]", "int32", 8, 1, "16", 16),
		listCol("lbool", "list<item: bool, nullable>", 6, 1),
		// 2+1+0+3+2 = 8 items, one null; trues 1+1+1+2 = 5.
		boolCol("lbool[]", "bool", 8, 1, 5),
		listCol("grad", "fixed_size_list<item: float32>[3]", 6, 1),
		// 5 non-null rows × 3 = 15 items (the null row's 99s excluded);
		// sums by row 3 + 0.25 + 12 + 0 + 56 = 71.25, |…| 3 + 4.25 + 12 + 1 + 56 = 76.25.
		floatCol("grad[]", "float32", 15, 0, 71.25, 76.25),
	}
	wantEmptyColumns = []ColumnSummary{
		intCol("i32", "int32", 0, 0, "0", 0),
		intCol("i64", "int64", 0, 0, "0", 0),
		floatCol("f32", "float32", 0, 0, 0, 0),
		floatCol("f64", "float64", 0, 0, 0, 0),
		boolCol("b", "bool", 0, 0, 0),
		{Name: "s", Type: "utf8", Kind: KindString, Bytes: iptr(0)},
	}
	wantMetadataKeys = []string{"format", "format_version", "producer", "content"}
	wantMetadata     = map[string]string{"format": FixtureFormat, "format_version": FixtureFormatVersion}
)

func TestFixtureManifests(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	paths, err := WriteFixtures(mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]FileSummary{
		"scalars.arrow":    {Format: FormatFile, Batches: 3, Rows: 10, Columns: wantScalarColumns},
		"scalars.arrows":   {Format: FormatStream, Batches: 3, Rows: 10, Columns: wantScalarColumns},
		"lists_zstd.arrow": {Format: FormatFile, Batches: 3, Rows: 6, Columns: wantListColumns},
		"lists_lz4.arrows": {Format: FormatStream, Batches: 3, Rows: 6, Columns: wantListColumns},
		"empty.arrow":      {Format: FormatFile, Batches: 0, Rows: 0, Columns: wantEmptyColumns},
		"empty.arrows":     {Format: FormatStream, Batches: 0, Rows: 0, Columns: wantEmptyColumns},
	}
	if len(paths) != len(want) {
		t.Fatalf("WriteFixtures wrote %d files, want %d", len(paths), len(want))
	}
	for _, p := range paths {
		w, ok := want[filepath.Base(p)]
		if !ok {
			t.Errorf("unexpected fixture %s", p)
			continue
		}
		w.Path, w.MetadataKeys, w.Metadata = p, wantMetadataKeys, wantMetadata
		got, err := SummarizeFile(mem, p)
		if err != nil {
			t.Errorf("SummarizeFile(%s): %v", p, err)
			continue
		}
		compareSummary(t, got, w)
	}
}

// compareSummary reports the differences between got and want field by
// field and column by column.
func compareSummary(t *testing.T, got, want FileSummary) {
	t.Helper()
	gc, wc := got.Columns, want.Columns
	got.Columns, want.Columns = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: summary = %+v, want %+v", want.Path, got, want)
	}
	if len(gc) != len(wc) {
		t.Errorf("%s: %d columns, want %d", want.Path, len(gc), len(wc))
		return
	}
	for i := range gc {
		if !reflect.DeepEqual(gc[i], wc[i]) {
			t.Errorf("%s: column %d = %s, want %s", want.Path, i, colString(gc[i]), colString(wc[i]))
		}
	}
}

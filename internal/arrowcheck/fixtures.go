package arrowcheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// The fixture tables. A nil entry is a null; lists are []any. Each table is
// written in several record batches (batch sizes below) so that readers must
// add across batches. The expected manifests, summed by hand, are in
// fixtures_test.go.
var (
	// scalarBatches splits the 10 rows of the scalar table.
	scalarBatches = []int{4, 4, 2}
	fixI32        = []any{int32(1), int32(-2), nil, int32(2147483647), int32(-2147483648), int32(5), int32(6), nil, int32(8), int32(9)}
	// fixI64 holds 2^53+1, which float64 cannot represent: its sum is only
	// exact in integer arithmetic.
	fixI64  = []any{int64(9007199254740993), int64(1), int64(-4), nil, int64(4), int64(5), int64(-6), int64(7), int64(8), int64(9)}
	fixF32  = []any{float32(0.5), float32(-1.25), nil, float32(3), float32(0.125), float32(-0.0625), float32(100), nil, float32(2.5), float32(-8)}
	fixF64  = []any{0.25, 0.5, 1.5, -2.0, nil, 1024.0, -0.75, 3.0, 0.125, 6.0}
	fixBool = []any{true, false, nil, true, true, false, nil, false, true, true}
	fixStr  = []any{"a", "", nil, "héllo", "日本", "xyz", "ok", nil, "∑", "end"}

	// listBatches splits the 6 rows of the list table.
	listBatches = []int{2, 3, 1}
	fixStep     = []any{int64(0), int64(1), int64(2), int64(3), int64(4), int64(5)}
	fixListI32  = []any{[]any{int32(1), int32(2)}, nil, []any{}, []any{int32(3), nil, int32(4)}, []any{int32(5)}, []any{int32(-6), int32(7)}}
	fixListBool = []any{[]any{true, false}, []any{true}, nil, []any{}, []any{false, nil, true}, []any{true, true}}
	// fixFSL rows have fsLen items; the null row is written with the
	// placeholder values nullFSLFill, which no reader may count.
	fixFSL = []any{
		[]any{float32(0.5), float32(1), float32(1.5)},
		[]any{float32(2), float32(-2), float32(0.25)},
		nil,
		[]any{float32(4), float32(4), float32(4)},
		[]any{float32(-0.5), float32(0), float32(0.5)},
		[]any{float32(8), float32(16), float32(32)},
	}
)

const (
	fsLen       = 3  // FixedSizeList length of fixFSL
	nullFSLFill = 99 // child values under the null FixedSizeList row
)

// FixtureFormat is the value of the "format" schema metadata key of every
// fixture; "format_version" is FixtureFormatVersion.
const (
	FixtureFormat        = "entangle.arrowcheck.fixture"
	FixtureFormatVersion = "1"
)

// fixture is one sample file: its name, the table it holds and how it is
// encoded.
type fixture struct {
	name   string
	stream bool
	opts   []ipc.Option
	table  func(mem memory.Allocator) (*arrow.Schema, []arrow.Record)
}

// fixtures lists every sample file WriteFixtures writes.
var fixtures = []fixture{
	{name: "scalars.arrow", table: scalarTable},
	{name: "scalars.arrows", stream: true, table: scalarTable},
	{name: "lists_zstd.arrow", opts: []ipc.Option{ipc.WithZstd()}, table: listTable},
	{name: "lists_lz4.arrows", stream: true, opts: []ipc.Option{ipc.WithLZ4()}, table: listTable},
	{name: "empty.arrow", table: emptyTable},
	{name: "empty.arrows", stream: true, table: emptyTable},
}

// emptyTable is scalarTable's schema without record batches (a run that
// wrote no step yet, a table with no rows).
func emptyTable(mem memory.Allocator) (*arrow.Schema, []arrow.Record) {
	schema, recs := scalarTable(mem)
	for _, r := range recs {
		r.Release()
	}
	return schema, nil
}

// WriteFixtures writes the sample files into dir (which must exist) and
// returns their paths: scalars.arrow and scalars.arrows (int32, int64,
// float32, float64, bool, utf8 with nulls; uncompressed IPC file and
// stream), lists_zstd.arrow (List<int32>, List<bool> and
// FixedSizeList<float32>[3] with null and empty lists; zstd IPC file) and
// lists_lz4.arrows (the same table; lz4 IPC stream), and empty.arrow and
// empty.arrows (scalars' schema and no record batch). Every file has schema
// metadata (format, format_version, producer); all but the empty ones have
// several record batches.
func WriteFixtures(mem memory.Allocator, dir string) ([]string, error) {
	var paths []string
	for _, fx := range fixtures {
		p := filepath.Join(dir, fx.name)
		if err := writeFixture(mem, p, fx); err != nil {
			return paths, fmt.Errorf("arrowcheck: %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeFixture(mem memory.Allocator, path string, fx fixture) (err error) {
	schema, recs := fx.table(mem)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	opts := append([]ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(mem)}, fx.opts...)
	if fx.stream {
		bw := bufio.NewWriter(f)
		w := ipc.NewWriter(bw, opts...)
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				w.Close()
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		return bw.Flush()
	}
	w, err := ipc.NewFileWriter(f, opts...)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func fixtureMetadata(content string) *arrow.Metadata {
	md := arrow.NewMetadata(
		[]string{"format", "format_version", "producer", "content"},
		[]string{FixtureFormat, FixtureFormatVersion, "arrowsum fixtures", content})
	return &md
}

// scalarTable builds the scalar fixture in record batches of scalarBatches
// rows.
func scalarTable(mem memory.Allocator) (*arrow.Schema, []arrow.Record) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, fixtureMetadata("scalars"))
	cols := [][]any{fixI32, fixI64, fixF32, fixF64, fixBool, fixStr}
	return schema, buildBatches(mem, schema, cols, scalarBatches)
}

// listTable builds the list fixture in record batches of listBatches rows.
func listTable(mem memory.Allocator) (*arrow.Schema, []arrow.Record) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "step", Type: arrow.PrimitiveTypes.Int64},
		{Name: "li32", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "lbool", Type: arrow.ListOf(arrow.FixedWidthTypes.Boolean), Nullable: true},
		{Name: "grad", Type: arrow.FixedSizeListOfNonNullable(fsLen, arrow.PrimitiveTypes.Float32), Nullable: true},
	}, fixtureMetadata("lists"))
	cols := [][]any{fixStep, fixListI32, fixListBool, fixFSL}
	return schema, buildBatches(mem, schema, cols, listBatches)
}

// buildBatches appends the rows of cols (one []any per schema field) to a
// record builder and cuts a record after each batch size in sizes.
func buildBatches(mem memory.Allocator, schema *arrow.Schema, cols [][]any, sizes []int) []arrow.Record {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	var recs []arrow.Record
	row := 0
	for _, n := range sizes {
		for range n {
			for j, col := range cols {
				appendValue(b.Field(j), col[row])
			}
			row++
		}
		recs = append(recs, b.NewRecord())
	}
	return recs
}

// appendValue appends v (nil for null) to the builder of a fixture column.
func appendValue(b array.Builder, v any) {
	if v == nil {
		if fb, ok := b.(*array.FixedSizeListBuilder); ok {
			fb.Append(false)
			vb := fb.ValueBuilder().(*array.Float32Builder)
			for range fsLen {
				vb.Append(nullFSLFill)
			}
			return
		}
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.ListBuilder:
		b.Append(true)
		for _, x := range v.([]any) {
			appendValue(b.ValueBuilder(), x)
		}
	case *array.FixedSizeListBuilder:
		b.Append(true)
		for _, x := range v.([]any) {
			appendValue(b.ValueBuilder(), x)
		}
	default:
		panic("arrowcheck: fixture column of an unsupported builder type")
	}
}

// Package pqrows reads the rows of a parquet file as JSON objects, for
// prefdata.ReadRecords: preference datasets on the Hugging Face hub are
// parquet files whose rows hold the same fields as the JSONL records. It is a
// package of its own so that only the commands that read parquet link the
// parquet library (and what it imports).
package pqrows

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"entangle/pkg/prefdata"
)

// Rows calls fn with each row of the parquet file r (1-based row numbers
// over the whole file) as the JSON object of its top-level columns named in
// columns (other columns are not read; null fields are left out), or with the
// error that made the row unreadable. Message lists are
// list<struct<role, content>> columns. Rows stops at fn's first error and
// returns it, and checks ctx between record batches.
func Rows(ctx context.Context, r prefdata.ReaderAtSeeker, columns []string, fn func(obj map[string]json.RawMessage, row int, err error) error) (err error) {
	// Corrupt parquet metadata can make the reader panic; report it as an
	// error instead.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt parquet data (%v)", p)
		}
	}()
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return fmt.Errorf("not a readable parquet file: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("not a readable parquet file: %v", err)
	}
	// Leaf columns of the wanted top-level fields.
	want := map[string]bool{}
	for _, c := range columns {
		want[c] = true
	}
	sc := pf.MetaData().Schema
	var leaves []int
	for i := 0; i < sc.NumColumns(); i++ {
		if p := sc.Column(i).ColumnPath(); len(p) > 0 && want[p[0]] {
			leaves = append(leaves, i)
		}
	}
	if len(leaves) == 0 {
		return fmt.Errorf("the parquet file has none of the columns %v", columns)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	row := 0
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rr.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			row++
			obj := map[string]json.RawMessage{}
			var err error
			for c, f := range rec.Schema().Fields() {
				v, verr := arrowValue(rec.Column(c), i)
				if verr != nil {
					err = fmt.Errorf("column %q: %v", f.Name, verr)
					break
				}
				if v == nil {
					continue // a null field is a missing field
				}
				b, merr := json.Marshal(v)
				if merr != nil {
					err = fmt.Errorf("column %q: %v", f.Name, merr)
					break
				}
				obj[f.Name] = b
			}
			if err := fn(obj, row, err); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("row %d: %v", row+1, err)
	}
	return nil
}

// arrowValue returns row i of a as a Go value that encodes to the
// corresponding JSON: strings, numbers, booleans, lists and structs (as
// objects); nil for null.
func arrowValue(a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.Null:
		return nil, nil
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Binary:
		return string(a.Value(i)), nil
	case *array.LargeBinary:
		return string(a.Value(i)), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Int8:
		return a.Value(i), nil
	case *array.Int16:
		return a.Value(i), nil
	case *array.Int32:
		return a.Value(i), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint8:
		return a.Value(i), nil
	case *array.Uint16:
		return a.Value(i), nil
	case *array.Uint32:
		return a.Value(i), nil
	case *array.Uint64:
		return a.Value(i), nil
	case *array.Float32:
		return finite(float64(a.Value(i))), nil
	case *array.Float64:
		return finite(a.Value(i)), nil
	case *array.Dictionary:
		return arrowValue(a.Dictionary(), a.GetValueIndex(i))
	case array.ListLike:
		s, e := a.ValueOffsets(i)
		out := make([]any, 0, e-s)
		for k := s; k < e; k++ {
			v, err := arrowValue(a.ListValues(), int(k))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		m := make(map[string]any, st.NumFields())
		for f := 0; f < st.NumFields(); f++ {
			v, err := arrowValue(a.Field(f), i)
			if err != nil {
				return nil, err
			}
			m[st.Field(f).Name] = v
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported type %s", a.DataType())
}

// finite maps NaN and infinities (which JSON cannot hold) to nil.
func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

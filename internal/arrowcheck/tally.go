package arrowcheck

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// colAcc accumulates one column of the summary over all record batches.
type colAcc struct {
	name, typ, kind string
	end             int // index after this column's subtree (itself and list children)

	values, nulls int64
	sum, abs      float64 // float kinds, in row order
	hi            int64   // exact integer sum, 128-bit two's complement:
	lo            uint64  //   value = hi·2^64 + lo
	bytes         int64   // string kind
}

// tally holds the column accumulators of one file, in pre-order: each list
// column is followed by its child subtree.
type tally struct {
	schema  *arrow.Schema
	cols    []*colAcc
	batches int
	rows    int64
}

func newTally(schema *arrow.Schema) *tally {
	t := &tally{schema: schema}
	for _, f := range schema.Fields() {
		t.addCol(f.Name, f.Type)
	}
	return t
}

// addCol appends the accumulator for a column named name of type dt and,
// for lists, its children.
func (t *tally) addCol(name string, dt arrow.DataType) {
	c := &colAcc{name: name, typ: dt.String(), kind: kindOf(dt)}
	t.cols = append(t.cols, c)
	if c.kind == KindList {
		t.addCol(name+ChildSuffix, dt.(interface{ Elem() arrow.DataType }).Elem())
	}
	c.end = len(t.cols)
}

// kindOf maps an Arrow type to one of the Kind constants.
func kindOf(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return KindInt
	case arrow.FLOAT32, arrow.FLOAT64:
		return KindFloat
	case arrow.BOOL:
		return KindBool
	case arrow.STRING, arrow.LARGE_STRING:
		return KindString
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		return KindList
	}
	return KindOther
}

// addRecord adds one record batch.
func (t *tally) addRecord(rec arrow.Record) error {
	if int(rec.NumCols()) != len(t.schema.Fields()) {
		return fmt.Errorf("got=%d columns, want=%d", rec.NumCols(), len(t.schema.Fields()))
	}
	t.batches++
	t.rows += rec.NumRows()
	i := 0
	for j := range int(rec.NumCols()) {
		if err := t.add(i, rec.Column(j)); err != nil {
			return err
		}
		i = t.cols[i].end
	}
	return nil
}

// add adds arr to the accumulator at index i (and its children).
func (t *tally) add(i int, arr arrow.Array) error {
	c := t.cols[i]
	n := arr.Len()
	c.values += int64(n)
	c.nulls += int64(arr.NullN())
	valid := func(k int) bool { return true }
	if arr.NullN() > 0 {
		valid = arr.IsValid
	}
	switch a := arr.(type) {
	case *array.Int8:
		addSigned(c, a.Int8Values(), valid)
	case *array.Int16:
		addSigned(c, a.Int16Values(), valid)
	case *array.Int32:
		addSigned(c, a.Int32Values(), valid)
	case *array.Int64:
		addSigned(c, a.Int64Values(), valid)
	case *array.Uint8:
		addUnsigned(c, a.Uint8Values(), valid)
	case *array.Uint16:
		addUnsigned(c, a.Uint16Values(), valid)
	case *array.Uint32:
		addUnsigned(c, a.Uint32Values(), valid)
	case *array.Uint64:
		addUnsigned(c, a.Uint64Values(), valid)
	case *array.Float32:
		addFloats(c, a.Float32Values(), valid)
	case *array.Float64:
		addFloats(c, a.Float64Values(), valid)
	case *array.Boolean:
		for k := range n {
			if valid(k) && a.Value(k) {
				c.addInt(1)
			}
		}
	case *array.String:
		for k := range n {
			if valid(k) {
				c.bytes += int64(len(a.Value(k)))
			}
		}
	case *array.LargeString:
		for k := range n {
			if valid(k) {
				c.bytes += int64(len(a.Value(k)))
			}
		}
	case array.ListLike:
		// Map and list-view arrays are ListLike too, but of KindOther:
		// they are counted and not recursed into.
		if c.kind == KindList {
			return t.addListChildren(i+1, c.name, a, valid)
		}
	}
	return nil
}

// addListChildren adds to the child accumulator at index i the elements of
// the non-null lists of a, sliced in runs of contiguous offsets (one run for
// a whole batch in the usual case).
func (t *tally) addListChildren(i int, name string, a array.ListLike, valid func(int) bool) error {
	child := a.ListValues()
	clen := int64(child.Len())
	runStart, runEnd := int64(-1), int64(-1)
	flush := func() error {
		if runEnd > runStart {
			s := array.NewSlice(child, runStart, runEnd)
			defer s.Release()
			return t.add(i, s)
		}
		return nil
	}
	for k := range a.Len() {
		if !valid(k) {
			continue
		}
		start, end := a.ValueOffsets(k)
		if start < 0 || end < start || end > clen {
			return fmt.Errorf("column %s: row %d: list range [%d, %d) outside child of length %d", name, k, start, end, clen)
		}
		if start == end {
			continue
		}
		if start != runEnd {
			if err := flush(); err != nil {
				return err
			}
			runStart = start
		}
		runEnd = end
	}
	return flush()
}

func addSigned[T int8 | int16 | int32 | int64](c *colAcc, vals []T, valid func(int) bool) {
	for k, v := range vals {
		if valid(k) {
			c.addInt(int64(v))
		}
	}
}

func addUnsigned[T uint8 | uint16 | uint32 | uint64](c *colAcc, vals []T, valid func(int) bool) {
	for k, v := range vals {
		if valid(k) {
			var carry uint64
			c.lo, carry = bits.Add64(c.lo, uint64(v), 0)
			c.hi += int64(carry)
		}
	}
}

func addFloats[T float32 | float64](c *colAcc, vals []T, valid func(int) bool) {
	for k, v := range vals {
		if valid(k) {
			x := float64(v)
			c.sum += x
			c.abs += math.Abs(x)
		}
	}
}

// addInt adds v to the exact 128-bit sum: the low word with carry, and the
// sign extension of v (all ones when v < 0) to the high word.
func (c *colAcc) addInt(v int64) {
	var carry uint64
	c.lo, carry = bits.Add64(c.lo, uint64(v), 0)
	c.hi += int64(carry)
	if v < 0 {
		c.hi--
	}
}

// exact returns the 128-bit integer sum as a big.Int.
func (c *colAcc) exact() *big.Int {
	x := big.NewInt(c.hi)
	x.Lsh(x, 64)
	return x.Add(x, new(big.Int).SetUint64(c.lo))
}

// summaries converts the accumulators to the manifest's column summaries.
func (t *tally) summaries() []ColumnSummary {
	out := make([]ColumnSummary, len(t.cols))
	for i, c := range t.cols {
		s := ColumnSummary{Name: c.name, Type: c.typ, Kind: c.kind, Values: c.values, Nulls: c.nulls}
		switch c.kind {
		case KindInt, KindBool:
			x := c.exact()
			f, _ := new(big.Float).SetInt(x).Float64()
			sum := Float(f)
			s.Sum, s.IntSum = &sum, x.String()
		case KindFloat:
			sum, abs := Float(c.sum), Float(c.abs)
			s.Sum, s.AbsSum = &sum, &abs
		case KindString:
			b := c.bytes
			s.Bytes = &b
		}
		out[i] = s
	}
	return out
}

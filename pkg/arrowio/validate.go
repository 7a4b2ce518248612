package arrowio

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// ValidateRecord checks that the buffers of every column of rec hold what the
// column's length says they do, so that code reading the values (or sizing a
// slice by a list's offsets) stays inside the input: validity bitmaps and
// fixed-width values long enough, offsets non-decreasing and inside the data
// or child array, fixed-size lists and structs with long enough children.
// Arrow builds arrays from a record batch's buffers without these checks (its
// accessors panic, or return garbage lengths, on a corrupt batch). The types
// checked are the ones of the entangle formats (integers, floats, booleans,
// strings, binary, lists, large lists, fixed-size lists, structs); other
// types are refused.
func ValidateRecord(rec arrow.Record) error {
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q has %d rows, the batch %d", rec.ColumnName(i), col.Len(), rec.NumRows())
		}
		if err := validateData(col.Data(), 0); err != nil {
			return fmt.Errorf("column %q: %v", rec.ColumnName(i), err)
		}
	}
	return nil
}

func validateData(d arrow.ArrayData, depth int) error {
	if depth > MaxNesting {
		return fmt.Errorf("nested deeper than %d", MaxNesting)
	}
	off, n := d.Offset(), d.Len()
	if off < 0 || n < 0 {
		return fmt.Errorf("negative offset %d or length %d", off, n)
	}
	end := int64(off) + int64(n)
	bufs := d.Buffers()
	buf := func(i int) []byte {
		if i < len(bufs) && bufs[i] != nil {
			return bufs[i].Bytes()
		}
		return nil
	}
	need := func(i int, bytes int64, what string) error {
		if have := int64(len(buf(i))); have < bytes {
			return fmt.Errorf("%s buffer has %d bytes, %d rows need %d", what, have, n, bytes)
		}
		return nil
	}
	if d.NullN() > 0 && d.DataType().ID() != arrow.NULL {
		if err := need(0, (end+7)/8, "validity"); err != nil {
			return err
		}
	}
	children := d.Children()
	switch t := d.DataType().(type) {
	case *arrow.BooleanType:
		return need(1, (end+7)/8, "value")
	case arrow.FixedWidthDataType:
		w := int64(t.BitWidth()) / 8
		if w <= 0 {
			return fmt.Errorf("unsupported type %s", t)
		}
		return need(1, end*w, "value")
	case *arrow.StringType, *arrow.BinaryType:
		last, err := offsets32(buf(1), off, n)
		if err != nil {
			return err
		}
		if last > int64(len(buf(2))) {
			return fmt.Errorf("offsets reach byte %d of a %d-byte data buffer", last, len(buf(2)))
		}
		return nil
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		last, err := offsets64(buf(1), off, n)
		if err != nil {
			return err
		}
		if last > int64(len(buf(2))) {
			return fmt.Errorf("offsets reach byte %d of a %d-byte data buffer", last, len(buf(2)))
		}
		return nil
	case *arrow.ListType, *arrow.MapType, *arrow.LargeListType:
		if len(children) != 1 {
			return fmt.Errorf("a list with %d children", len(children))
		}
		var last int64
		var err error
		if _, large := t.(*arrow.LargeListType); large {
			last, err = offsets64(buf(1), off, n)
		} else {
			last, err = offsets32(buf(1), off, n)
		}
		if err != nil {
			return err
		}
		if last > int64(children[0].Len()) {
			return fmt.Errorf("list offsets reach item %d of %d", last, children[0].Len())
		}
		return validateData(children[0], depth+1)
	case *arrow.FixedSizeListType:
		if len(children) != 1 {
			return fmt.Errorf("a list with %d children", len(children))
		}
		if k := int64(t.Len()); k < 0 || int64(children[0].Len()) < end*k {
			return fmt.Errorf("fixed-size list of %d needs %d items, has %d", k, end*k, children[0].Len())
		}
		return validateData(children[0], depth+1)
	case *arrow.StructType:
		if len(children) != t.NumFields() {
			return fmt.Errorf("a struct of %d fields with %d children", t.NumFields(), len(children))
		}
		for _, c := range children {
			if int64(c.Len()) < end {
				return fmt.Errorf("struct field has %d rows, needs %d", c.Len(), end)
			}
			if err := validateData(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unsupported type %s", d.DataType())
}

// offsets32 checks n+1 int32 offsets from row off: present, starting at 0 or
// more, non-decreasing; it returns the last one.
func offsets32(b []byte, off, n int) (int64, error) {
	if int64(len(b)) < (int64(off)+int64(n)+1)*4 {
		return 0, fmt.Errorf("offsets buffer has %d bytes, %d rows need %d", len(b), n, (int64(off)+int64(n)+1)*4)
	}
	prev := int64(int32(binary.LittleEndian.Uint32(b[4*off:])))
	if prev < 0 {
		return 0, fmt.Errorf("negative offset %d", prev)
	}
	for i := off + 1; i <= off+n; i++ {
		v := int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		if v < prev {
			return 0, fmt.Errorf("offsets decrease at row %d (%d after %d)", i-off-1, v, prev)
		}
		prev = v
	}
	return prev, nil
}

// offsets64 is offsets32 for int64 offsets.
func offsets64(b []byte, off, n int) (int64, error) {
	if int64(len(b)) < (int64(off)+int64(n)+1)*8 {
		return 0, fmt.Errorf("offsets buffer has %d bytes, %d rows need %d", len(b), n, (int64(off)+int64(n)+1)*8)
	}
	prev := int64(binary.LittleEndian.Uint64(b[8*off:]))
	if prev < 0 {
		return 0, fmt.Errorf("negative offset %d", prev)
	}
	for i := off + 1; i <= off+n; i++ {
		v := int64(binary.LittleEndian.Uint64(b[8*i:]))
		if v < prev {
			return 0, fmt.Errorf("offsets decrease at row %d (%d after %d)", i-off-1, v, prev)
		}
		prev = v
	}
	return prev, nil
}

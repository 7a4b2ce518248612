package arrowio

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func i32s(v ...int32) *memory.Buffer {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return memory.NewBufferBytes(b)
}

// TestValidateRecord: batches whose buffers do not hold what their lengths
// say are refused; the valid test batch passes.
func TestValidateRecord(t *testing.T) {
	rec := testRecord(testSchema(1), 1)
	if err := ValidateRecord(rec); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	i32 := arrow.PrimitiveTypes.Int32
	child := array.NewData(i32, 2, []*memory.Buffer{nil, i32s(7, 8)}, nil, 0, 0)
	str := arrow.BinaryTypes.String
	for _, tc := range []struct {
		name string
		typ  arrow.DataType
		d    arrow.ArrayData
		want string
	}{
		{"short int32 values", i32, array.NewData(i32, 3, []*memory.Buffer{nil, i32s(1, 2)}, nil, 0, 0), "value buffer has 8 bytes, 3 rows need 12"},
		{"short validity", i32, array.NewData(i32, 20, []*memory.Buffer{memory.NewBufferBytes([]byte{1}), i32s(make([]int32, 20)...)}, nil, 1, 0), "validity buffer has 1 bytes"},
		{"list past its child", arrow.ListOf(i32), array.NewData(arrow.ListOf(i32), 1, []*memory.Buffer{nil, i32s(0, 1<<27)}, []arrow.ArrayData{child}, 0, 0), "list offsets reach item 134217728 of 2"},
		{"list negative offset", arrow.ListOf(i32), array.NewData(arrow.ListOf(i32), 1, []*memory.Buffer{nil, i32s(-8, 1)}, []arrow.ArrayData{child}, 0, 0), "negative offset -8"},
		{"list decreasing", arrow.ListOf(i32), array.NewData(arrow.ListOf(i32), 2, []*memory.Buffer{nil, i32s(0, 2, 1)}, []arrow.ArrayData{child}, 0, 0), "offsets decrease at row 1"},
		{"list short offsets", arrow.ListOf(i32), array.NewData(arrow.ListOf(i32), 5, []*memory.Buffer{nil, i32s(0, 1)}, []arrow.ArrayData{child}, 0, 0), "offsets buffer has 8 bytes"},
		{"string past its data", str, array.NewData(str, 1, []*memory.Buffer{nil, i32s(0, 100), memory.NewBufferBytes([]byte("ab"))}, nil, 0, 0), "offsets reach byte 100 of a 2-byte data buffer"},
		{"fixed-size list short child", arrow.FixedSizeListOf(3, i32), array.NewData(arrow.FixedSizeListOf(3, i32), 1, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0), "needs 3 items, has 2"},
	} {
		// Arrow's array constructors panic on some of these (its IPC reader
		// recovers), so the data is checked directly.
		if err := validateData(tc.d, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

package arrowio

import (
	"encoding/binary"
	"fmt"
)

// This file checks the flatbuffer metadata of Arrow IPC messages (Message.fbs,
// Schema.fbs, File.fbs of the Arrow format) before Arrow's own reader sees
// it. Arrow Go v17 reads flatbuffers without verifying them: a vector length
// becomes a make([]T, n), a field's children are walked recursively with no
// depth limit, and offsets may point anywhere (even backwards, making cycles).
// The checks below follow every offset Arrow follows, computed exactly as the
// flatbuffers Go runtime computes it (uint32 arithmetic that wraps), and
// require:
//
//   - every table, vtable, vector, string and scalar to lie inside the buffer;
//   - fields to nest at most MaxNesting deep;
//   - the objects visited to add up to at most budgetFactor times the buffer
//     (a flatbuffer written by Arrow references every object once, so shared
//     offsets that would make Arrow visit a table many times are refused);
//   - record batches' buffers to lie inside the message body without adding
//     up to more than it, node lengths and null counts to be non-negative,
//     variadic buffer counts to be at most the number of buffers, and no body
//     compression;
//   - no dictionary encoding and no view types (the entangle formats use
//     neither; Arrow trusts counts for both that the checks cannot bound).
//
// Arrow also reads a record batch's field nodes and buffers by index without
// looking at the vectors' lengths (as many as the schema needs), so a short
// table makes it read whatever follows; Guard.Allocator and InputAllocator
// bound what such reads can allocate.

// MaxNesting is the deepest nesting of fields (a list of structs of lists...)
// the readers accept; Arrow's own limit when it loads arrays is 64.
const MaxNesting = 64

// budgetFactor bounds the bytes of flatbuffer objects visited, as a multiple
// of the buffer's size.
const budgetFactor = 4

// Message header types (Message.fbs MessageHeader).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
)

type fbuf struct {
	b      []byte
	budget int64 // bytes of objects that may still be visited
	depth  int
}

type fbErr string

func (e fbErr) Error() string { return string(e) }

func (f *fbuf) fail(format string, args ...any) {
	panic(fbErr(fmt.Sprintf(format, args...)))
}

// need fails unless [p, p+n) lies in the buffer.
func (f *fbuf) need(p uint32, n uint64, what string) {
	if uint64(p)+n > uint64(len(f.b)) {
		f.fail("%s at offset %d (%d bytes) is outside the %d-byte metadata", what, p, n, len(f.b))
	}
}

func (f *fbuf) charge(n uint64) {
	f.budget -= int64(n)
	if f.budget < 0 {
		f.fail("the metadata references more objects than it holds (shared or cyclic offsets)")
	}
}

func (f *fbuf) u16(p uint32) uint16 {
	f.need(p, 2, "value")
	return binary.LittleEndian.Uint16(f.b[p:])
}
func (f *fbuf) u32(p uint32) uint32 {
	f.need(p, 4, "value")
	return binary.LittleEndian.Uint32(f.b[p:])
}
func (f *fbuf) i64(p uint32) int64 {
	f.need(p, 8, "value")
	return int64(binary.LittleEndian.Uint64(f.b[p:]))
}

// table is a flatbuffer table at pos with its vtable.
type table struct {
	f     *fbuf
	pos   uint32
	vt    uint32
	vtLen uint16
}

// tableAt checks the table at pos and its vtable.
func (f *fbuf) tableAt(pos uint32, what string) table {
	f.need(pos, 4, what)
	vt := uint32(int32(pos) - int32(f.u32(pos))) // flatbuffers: UOffsetT(SOffsetT(pos) - GetSOffsetT(pos))
	f.need(vt, 4, what+" vtable")
	vtLen, tabLen := f.u16(vt), f.u16(vt+2)
	if vtLen < 4 {
		f.fail("%s vtable at offset %d is %d bytes long", what, vt, vtLen)
	}
	f.need(vt, uint64(vtLen), what+" vtable")
	f.need(pos, uint64(max(tabLen, 4)), what)
	f.charge(uint64(max(tabLen, 4)))
	return table{f: f, pos: pos, vt: vt, vtLen: vtLen}
}

// root returns the root table of the buffer.
func (f *fbuf) root(what string) table { return f.tableAt(f.u32(0), what) }

// field returns the position of field slot (0-based), or 0 if it is absent.
func (t table) field(slot int) uint32 {
	voff := uint32(4 + 2*slot)
	if voff >= uint32(t.vtLen) {
		return 0
	}
	o := t.f.u16(t.vt + voff)
	if o == 0 {
		return 0
	}
	return t.pos + uint32(o)
}

// scalar checks a scalar field of size bytes; it returns its position or 0.
func (t table) scalar(slot int, size uint64, what string) uint32 {
	p := t.field(slot)
	if p != 0 {
		t.f.need(p, size, what)
	}
	return p
}

// int64At returns the int64 field slot, def when absent.
func (t table) int64At(slot int, def int64, what string) int64 {
	if p := t.scalar(slot, 8, what); p != 0 {
		return t.f.i64(p)
	}
	return def
}

// ref returns the target of an offset field, or false when absent.
func (t table) ref(slot int, what string) (uint32, bool) {
	p := t.field(slot)
	if p == 0 {
		return 0, false
	}
	return p + t.f.u32(p), true // flatbuffers: Indirect(p)
}

// sub returns the table of a table (or union) field.
func (t table) sub(slot int, what string) (table, bool) {
	p, ok := t.ref(slot, what)
	if !ok {
		return table{}, false
	}
	return t.f.tableAt(p, what), true
}

// vector checks the vector field slot of elem-byte elements and returns the
// position of its first element and its length.
func (t table) vector(slot int, elem uint64, what string) (uint32, uint32) {
	p, ok := t.ref(slot, what)
	if !ok {
		return 0, 0
	}
	n := t.f.u32(p)
	t.f.need(p+4, uint64(n)*elem, fmt.Sprintf("%s (%d elements)", what, n))
	t.f.charge(4 + uint64(n)*elem)
	return p + 4, n
}

// tables calls fn on each table of the vector-of-tables field slot.
func (t table) tables(slot int, what string, fn func(table)) {
	start, n := t.vector(slot, 4, what)
	for i := uint32(0); i < n; i++ {
		e := start + 4*i
		fn(t.f.tableAt(e+t.f.u32(e), what))
	}
}

// keyValues checks a custom_metadata field.
func (t table) keyValues(slot int) {
	t.tables(slot, "custom metadata", func(kv table) {
		kv.vector(0, 1, "metadata key")
		kv.vector(1, 1, "metadata value")
	})
}

// verifySchema checks a Schema table.
func verifySchema(s table) {
	s.scalar(0, 2, "endianness")
	s.tables(1, "fields", func(fl table) { verifyField(fl) })
	s.keyValues(2)
	s.vector(3, 8, "features")
}

// Field type ids (Schema.fbs Type) whose tables have fields.
const (
	typeInt             = 2
	typeFloatingPoint   = 3
	typeDecimal         = 7
	typeDate            = 8
	typeTime            = 9
	typeTimestamp       = 10
	typeInterval        = 11
	typeUnion           = 14
	typeFixedSizeBinary = 15
	typeFixedSizeList   = 16
	typeMap             = 17
	typeDuration        = 18
	typeBinaryView      = 23 // and Utf8View, ListView, LargeListView
)

func verifyField(fl table) {
	f := fl.f
	f.depth++
	if f.depth > MaxNesting {
		f.fail("fields nested deeper than %d", MaxNesting)
	}
	fl.vector(0, 1, "field name")
	fl.scalar(1, 1, "nullable")
	typ := byte(0)
	if p := fl.scalar(2, 1, "type id"); p != 0 {
		typ = f.b[p]
	}
	if tt, ok := fl.sub(3, "field type"); ok {
		switch typ {
		case typeInt, typeTime:
			tt.scalar(0, 4, "type")
			tt.scalar(1, 4, "type")
		case typeFloatingPoint, typeDate, typeInterval, typeDuration, typeMap:
			tt.scalar(0, 2, "type")
		case typeDecimal:
			tt.scalar(0, 4, "type")
			tt.scalar(1, 4, "type")
			tt.scalar(2, 4, "type")
		case typeTimestamp:
			tt.scalar(0, 2, "type")
			tt.vector(1, 1, "timezone")
		case typeUnion:
			tt.scalar(0, 2, "type")
			tt.vector(1, 4, "union type ids")
		case typeFixedSizeBinary, typeFixedSizeList:
			tt.scalar(0, 4, "type")
		}
	}
	if _, ok := fl.ref(4, "dictionary encoding"); ok {
		f.fail("dictionary-encoded columns are not supported (entangle writes none)")
	}
	if typ >= typeBinaryView {
		// Arrow sizes a view's buffer list by a count it reads past the
		// end of the batch's table when that is short.
		f.fail("view types are not supported (entangle writes none)")
	}
	fl.tables(5, "field children", func(c table) { verifyField(c) })
	fl.keyValues(6)
	f.depth--
}

// verifyRecordBatch checks a RecordBatch table whose buffers must lie in a
// body of bodyLen bytes.
func verifyRecordBatch(rb table, bodyLen int64) (nbuf uint32) {
	f := rb.f
	if n := rb.int64At(0, 0, "row count"); n < 0 {
		f.fail("negative row count %d", n)
	}
	start, n := rb.vector(1, 16, "field nodes")
	for i := uint32(0); i < n; i++ {
		p := start + 16*i
		l, nulls := f.i64(p), f.i64(p+8)
		if l < 0 || nulls < 0 || nulls > l {
			f.fail("field node %d has length %d and %d nulls", i, l, nulls)
		}
	}
	start, nbuf = rb.vector(2, 16, "buffers")
	var sum int64
	for i := uint32(0); i < nbuf; i++ {
		p := start + 16*i
		off, l := f.i64(p), f.i64(p+8)
		if off < 0 || l < 0 || off > bodyLen || l > bodyLen-off {
			f.fail("buffer %d (offset %d, length %d) is outside the %d-byte message body", i, off, l, bodyLen)
		}
		if sum += l; sum > bodyLen { // buffers do not overlap
			f.fail("the buffers add up to more than the %d-byte message body", bodyLen)
		}
	}
	if _, ok := rb.ref(3, "compression"); ok {
		f.fail("compressed record batches are not supported (entangle writes uncompressed Arrow)")
	}
	start, n = rb.vector(4, 8, "variadic buffer counts")
	for i := uint32(0); i < n; i++ {
		if c := f.i64(start + 8*i); c < 0 || c > int64(nbuf) {
			f.fail("variadic buffer count %d is outside [0, %d]", c, nbuf)
		}
	}
	return nbuf
}

// verifyMessage checks the flatbuffer of one IPC message and returns its
// header type and body length. The body of a record or dictionary batch is
// bodyLen bytes when bodyLen >= 0 (the IPC file's block says so), else the
// message's own bodyLength.
func verifyMessage(meta []byte, bodyLen int64) (typ byte, body int64, nbuf uint32, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(fbErr)
			if !ok {
				panic(p)
			}
			err = e
		}
	}()
	f := &fbuf{b: meta, budget: budgetFactor*int64(len(meta)) + 1024}
	m := f.root("message")
	m.scalar(0, 2, "version")
	if p := m.scalar(1, 1, "header type"); p != 0 {
		typ = meta[p]
	}
	body = m.int64At(3, 0, "body length")
	if body < 0 {
		f.fail("negative body length %d", body)
	}
	if bodyLen < 0 {
		bodyLen = body
	}
	m.keyValues(4)
	h, ok := m.sub(2, "message header")
	if !ok {
		f.fail("message without a header")
	}
	switch typ {
	case headerSchema:
		verifySchema(h)
	case headerRecordBatch:
		nbuf = verifyRecordBatch(h, bodyLen)
	case headerDictionaryBatch:
		f.fail("dictionary batches are not supported (entangle writes no dictionary-encoded columns)")
	default:
		f.fail("unsupported message type %d (want a schema or a record batch)", typ)
	}
	return typ, body, nbuf, nil
}

// block is an IPC file's Block struct (File.fbs).
type block struct {
	offset int64
	meta   int32
	body   int64
}

// verifyFooter checks an IPC file's footer flatbuffer and returns its
// dictionary and record batch blocks.
func verifyFooter(footer []byte) (dicts, batches []block, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(fbErr)
			if !ok {
				panic(p)
			}
			err = e
		}
	}()
	f := &fbuf{b: footer, budget: budgetFactor*int64(len(footer)) + 1024}
	ft := f.root("footer")
	ft.scalar(0, 2, "version")
	s, ok := ft.sub(1, "schema")
	if !ok {
		f.fail("footer without a schema")
	}
	verifySchema(s)
	blocks := func(slot int, what string) []block {
		start, n := ft.vector(slot, 24, what)
		out := make([]block, n)
		for i := range out {
			p := start + 24*uint32(i)
			out[i] = block{offset: f.i64(p), meta: int32(f.u32(p + 8)), body: f.i64(p + 16)}
		}
		return out
	}
	dicts = blocks(2, "dictionary blocks")
	batches = blocks(3, "record batch blocks")
	ft.keyValues(4)
	return dicts, batches, nil
}

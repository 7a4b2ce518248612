package arrowio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// testSchema has the column kinds the entangle formats use.
func testSchema(nameLen int) *arrow.Schema {
	md := arrow.NewMetadata([]string{"format", "config"}, []string{"entangle.test", strings.Repeat("c", nameLen)})
	return arrow.NewSchema([]arrow.Field{
		{Name: "step", Type: arrow.PrimitiveTypes.Int64},
		{Name: "kind", Type: arrow.BinaryTypes.String},
		{Name: "toks", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
		{Name: "grad", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)},
		{Name: "r", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, &md)
}

func testRecord(s *arrow.Schema, step int64) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i := 0; i < 3; i++ {
		b.Field(0).(*array.Int64Builder).Append(step)
		b.Field(1).(*array.StringBuilder).Append("train")
		lb := b.Field(2).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 2, int32(i)}, nil)
		fb := b.Field(3).(*array.FixedSizeListBuilder)
		fb.Append(true)
		fb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{0.5, 1, float32(i)}, nil)
		if i == 1 {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Float64Builder).Append(float64(i))
		}
	}
	return b.NewRecord()
}

// testStream writes a stream of n batches; ends[k] is the byte where message
// k ends (ends[0]: the schema).
func testStream(t testing.TB, n int, opts ...ipc.Option) (all []byte, ends []int) {
	t.Helper()
	s := testSchema(10)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(s)}, opts...)...)
	for i := 0; i < n; i++ {
		rec := testRecord(s, int64(i))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	all = buf.Bytes()
	for p := 0; p < len(all); {
		m := parseFraming(t, all, p)
		if m.metaLen == 0 {
			break
		}
		p = m.bodyStart + int(m.bodyLen)
		ends = append(ends, p)
	}
	return all, ends
}

type framing struct {
	start, metaStart, metaLen, bodyStart int
	bodyLen                              int64
}

// parseFraming reads the message at p of a valid stream.
func parseFraming(t testing.TB, all []byte, p int) framing {
	t.Helper()
	l := int(binary.LittleEndian.Uint32(all[p+4:]))
	m := framing{start: p, metaStart: p + 8, metaLen: l, bodyStart: p + 8 + l}
	if l > 0 {
		f := &fbuf{b: all[m.metaStart : m.metaStart+l], budget: 1 << 40}
		m.bodyLen = f.root("message").int64At(3, 0, "")
	}
	return m
}

// readAll reads a stream through a guard with Arrow and returns the rows
// read and the error.
func readAll(r io.Reader) (rows int64, g *Guard, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("panic")
		}
	}()
	g = NewGuard(r)
	rr, err := ipc.NewReader(g, ipc.WithAllocator(g.Allocator(LimitAllocator(1<<30))))
	if err != nil {
		if g.Err() != nil {
			return 0, g, g.Err()
		}
		return 0, g, err
	}
	defer rr.Release()
	for rr.Next() {
		rows += rr.Record().NumRows()
	}
	if g.Err() != nil {
		return rows, g, g.Err()
	}
	return rows, g, rr.Err()
}

// pipe hides the reader's size, as a pipe does.
type pipe struct{ r io.Reader }

func (p pipe) Read(b []byte) (int, error) { return p.r.Read(b) }

// allocated returns the bytes allocated while fn ran.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestGuardValid: a valid stream reads the same through the guard, from a
// file-like reader and from a pipe, and ends at its marker.
func TestGuardValid(t *testing.T) {
	all, _ := testStream(t, 4)
	for _, src := range []struct {
		name string
		r    io.Reader
	}{{"sized", bytes.NewReader(all)}, {"pipe", pipe{bytes.NewReader(all)}}, {"one byte at a time", pipe{iotestOneByte(all)}}} {
		rows, g, err := readAll(src.r)
		if err != nil || rows != 12 || !g.Ended() || g.Messages() != 5 {
			t.Errorf("%s: rows %d, err %v, ended %v, messages %d", src.name, rows, err, g.Ended(), g.Messages())
		}
	}
	if err := Check(all); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func iotestOneByte(b []byte) io.Reader { return &oneByte{b} }

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

// TestGuardTruncated: every cut of a stream — inside a message or exactly
// between two — is ErrTruncated, after the complete batches before it; the
// empty input is not (Arrow reports it as EOF).
func TestGuardTruncated(t *testing.T) {
	all, ends := testStream(t, 3)
	cases := 0
	for cut := 1; cut < len(all); cut++ {
		wantRows := int64(0)
		for k := 1; k < len(ends); k++ {
			if ends[k] <= cut {
				wantRows = int64(3 * k)
			}
		}
		for _, pipeMode := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(all[:cut])
			if pipeMode {
				r = pipe{r}
			}
			rows, _, err := readAll(r)
			cases++
			if !errors.Is(err, ErrTruncated) || rows != wantRows {
				t.Fatalf("cut at %d of %d (pipe %v): rows %d (want %d), err %v", cut, len(all), pipeMode, rows, wantRows, err)
			}
		}
		if err := Check(all[:cut]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Check of a cut at %d: %v", cut, err)
		}
	}
	if _, _, err := readAll(bytes.NewReader(nil)); err == nil || errors.Is(err, ErrTruncated) {
		t.Errorf("empty input: %v", err)
	}
	t.Logf("%d cuts", cases)
}

// junk are inputs that are not Arrow, or Arrow with lying lengths in the
// framing; each must be refused with a tiny allocation.
func junk(t testing.TB) map[string][]byte {
	all, ends := testStream(t, 2)
	batch := parseFraming(t, all, ends[0])
	withLen := func(p int, v uint32) []byte {
		b := append([]byte(nil), all...)
		binary.LittleEndian.PutUint32(b[p:], v)
		return b
	}
	bodyLen := func(v int64) []byte {
		b := append([]byte(nil), all...)
		f := &fbuf{b: b[batch.metaStart : batch.metaStart+batch.metaLen], budget: 1 << 40}
		p := f.root("message").field(3)
		binary.LittleEndian.PutUint64(f.b[p:], uint64(v))
		return b[:ends[1]]
	}
	return map[string][]byte{
		"hello":                       []byte("hello\n"),
		"four bytes":                  []byte("hell"),
		"continuation and max length": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"continuation and neg length": {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80, 1, 2, 3},
		"legacy max length":           {0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4},
		"schema length 64 MiB + 1":    withLen(4, MaxMetadata+1)[:64],
		"schema length past the end":  withLen(4, uint32(len(all))),
		"batch metadata 2 GiB":        withLen(batch.start+4, 0x7fffffff),
		"batch metadata past the end": withLen(batch.start+4, uint32(len(all))),
		"batch body 1.8 GB":           bodyLen(1_800_000_000),
		"batch body negative":         bodyLen(-8),
		"zeros":                       make([]byte, 64),
		"ones":                        bytes.Repeat([]byte{0xff}, 64),
		"text":                        []byte(strings.Repeat("step\tkind\tloss\n", 100)),
		"arrow file magic then junk":  []byte("ARROW1\x00\x00hello world, not arrow at all"),
		"schema without its metadata": all[:8],
		"schema cut before its body":  all[:ends[0]-1],
	}
}

// TestGuardJunkAllocatesLittle: every junk input is refused, through a
// sized reader and through a pipe, allocating less than 256 KiB (the bug was
// 1.8 GB from "hell" read as a length).
func TestGuardJunkAllocatesLittle(t *testing.T) {
	for name, in := range junk(t) {
		for _, pipeMode := range []bool{false, true} {
			var err error
			n := allocated(func() {
				var r io.Reader = bytes.NewReader(in)
				if pipeMode {
					r = pipe{r}
				}
				_, _, err = readAll(r)
			})
			if err == nil {
				t.Errorf("%s (pipe %v): accepted", name, pipeMode)
			}
			if n > 256<<10 {
				t.Errorf("%s (pipe %v): allocated %d bytes", name, pipeMode, n)
			}
		}
		if n := allocated(func() { Check(in) }); n > 256<<10 {
			t.Errorf("%s: Check allocated %d bytes", name, n)
		}
	}
}

// mutateMeta returns a copy of the stream's schema message with fn applied
// to its metadata flatbuffer (the schema table is passed).
func mutateSchema(t *testing.T, s *arrow.Schema, fn func(f *fbuf, schema table)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	w.Close()
	all := buf.Bytes()
	m := parseFraming(t, all, 0)
	f := &fbuf{b: all[m.metaStart : m.metaStart+m.metaLen], budget: 1 << 40}
	h, _ := f.root("message").sub(2, "")
	fn(f, h)
	return all
}

func put32(f *fbuf, p, v uint32) { binary.LittleEndian.PutUint32(f.b[p:], v) }

// vecPos returns the position of vector field slot's length word.
func vecPos(t table, slot int) uint32 { p, _ := t.ref(slot, ""); return p }

// TestSchemaAttacks: corrupt schema flatbuffers (the part Arrow trusts
// most) are refused before Arrow parses them, with a tiny allocation.
func TestSchemaAttacks(t *testing.T) {
	nested := func(depth int) *arrow.Schema {
		var typ arrow.DataType = arrow.PrimitiveTypes.Int32
		for i := 0; i < depth; i++ {
			typ = arrow.ListOf(typ)
		}
		return arrow.NewSchema([]arrow.Field{{Name: "x", Type: typ}}, nil)
	}
	// wide has n fields; the first one's name is nameLen bytes long.
	wide := func(n int, nameLen int) *arrow.Schema {
		fs := make([]arrow.Field, n)
		for i := range fs {
			fs[i] = arrow.Field{Name: string(rune('a' + i%26)), Type: arrow.PrimitiveTypes.Int64}
		}
		fs[0].Name = strings.Repeat("n", nameLen)
		return arrow.NewSchema(fs, nil)
	}
	field0 := func(s table) table {
		start, _ := s.vector(1, 4, "")
		return s.f.tableAt(start+s.f.u32(start), "")
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"fields vector length 2^31-1", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, vecPos(s, 1), 0x7fffffff) }), "fields"},
		{"fields vector length 2^32-1", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, vecPos(s, 1), 0xffffffff) }), "fields"},
		{"custom metadata length 10^9", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, vecPos(s, 2), 1e9) }), "custom metadata"},
		{"metadata value length 10^9", mutateSchema(t, testSchema(10), func(f *fbuf, s table) {
			start, _ := s.vector(2, 4, "")
			kv := f.tableAt(start+f.u32(start), "")
			put32(f, vecPos(kv, 1), 1e9)
		}), "metadata value"},
		{"field name length 10^9", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, vecPos(field0(s), 0), 1e9) }), "field name"},
		{"children length 10^9", mutateSchema(t, nested(2), func(f *fbuf, s table) { put32(f, vecPos(field0(s), 5), 1e9) }), "field children"},
		{"field offset outside", mutateSchema(t, testSchema(10), func(f *fbuf, s table) {
			start, _ := s.vector(1, 4, "")
			put32(f, start, 1e9)
		}), "outside"},
		{"vtable outside", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, s.pos, 0x80000000) }), "vtable"},
		{"root outside", mutateSchema(t, testSchema(10), func(f *fbuf, s table) { put32(f, 0, 0xfffffff0) }), "outside"},
		{"a field that is its own child (cycle)", mutateSchema(t, nested(1), func(f *fbuf, s table) {
			fl := field0(s)
			start, _ := fl.vector(5, 4, "")
			put32(f, start, fl.pos-start) // uint32 wrap: points back at the field
		}), "cyclic"},
		{"70 nested lists", mutateSchema(t, nested(70), func(*fbuf, table) {}), "nested deeper than 64"},
		{"every field is field 0 (shared offsets)", mutateSchema(t, wide(300, 100_000), func(f *fbuf, s table) {
			start, n := s.vector(1, 4, "")
			t0 := start + f.u32(start)
			for i := uint32(1); i < n; i++ {
				e := start + 4*i
				put32(f, e, t0-e)
			}
		}), "shared or cyclic"},
	} {
		var err error
		n := allocated(func() { _, _, err = readAll(bytes.NewReader(tc.in)) })
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a CorruptError with %q", tc.name, err, tc.want)
		}
		if n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
	}
	// Dictionary-encoded columns and view types are refused.
	dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	for name, typ := range map[string]arrow.DataType{"dictionary": dict, "string view": arrow.BinaryTypes.StringView} {
		in := mutateSchema(t, arrow.NewSchema([]arrow.Field{{Name: "x", Type: typ}}, nil), func(*fbuf, table) {})
		if _, _, err := readAll(bytes.NewReader(in)); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s column: %v", name, err)
		}
	}
	// 60 nested lists are fine.
	if _, _, err := readAll(bytes.NewReader(mutateSchema(t, nested(60), func(*fbuf, table) {}))); err != nil {
		t.Errorf("60 nested lists: %v", err)
	}
}

// TestBatchAttacks: record batch metadata whose buffers leave the body, with
// negative lengths, a lying variadic count or compression is refused.
func TestBatchAttacks(t *testing.T) {
	mutate := func(fn func(f *fbuf, rb table)) []byte {
		all, ends := testStream(t, 1)
		m := parseFraming(t, all, ends[0])
		f := &fbuf{b: all[m.metaStart : m.metaStart+m.metaLen], budget: 1 << 40}
		rb, _ := f.root("message").sub(2, "")
		fn(f, rb)
		return all
	}
	put64 := func(f *fbuf, p uint32, v int64) { binary.LittleEndian.PutUint64(f.b[p:], uint64(v)) }
	elem := func(rb table, slot int, i uint32) uint32 { start, _ := rb.vector(slot, 16, ""); return start + 16*i }
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"buffer length 2^40", mutate(func(f *fbuf, rb table) { put64(f, elem(rb, 2, 1)+8, 1<<40) }), "outside the"},
		{"buffer offset past the body", mutate(func(f *fbuf, rb table) { put64(f, elem(rb, 2, 1), 1<<20) }), "outside the"},
		{"buffer offset negative", mutate(func(f *fbuf, rb table) { put64(f, elem(rb, 2, 1), -8) }), "outside the"},
		{"node length negative", mutate(func(f *fbuf, rb table) { put64(f, elem(rb, 1, 0), -1) }), "field node 0"},
		{"nulls above length", mutate(func(f *fbuf, rb table) { put64(f, elem(rb, 1, 0)+8, 1000) }), "field node 0"},
		{"row count negative", mutate(func(f *fbuf, rb table) { put64(f, rb.field(0), -3) }), "negative row count"},
		{"nodes vector length 10^9", mutate(func(f *fbuf, rb table) { put32(f, vecPos(rb, 1), 1e9) }), "field nodes"},
	} {
		_, _, err := readAll(bytes.NewReader(tc.in))
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a CorruptError with %q", tc.name, err, tc.want)
		}
	}
	overlap := mutate(func(f *fbuf, rb table) {
		start, n := rb.vector(2, 16, "")
		for i := uint32(0); i < n; i++ {
			put64(f, start+16*i, 0)
			put64(f, start+16*i+8, 64) // each fits the 184-byte body; together they do not
		}
	})
	if _, _, err := readAll(bytes.NewReader(overlap)); err == nil || !strings.Contains(err.Error(), "add up to more than") {
		t.Errorf("overlapping buffers: %v", err)
	}
	zall, _ := testStream(t, 1, ipc.WithZstd())
	if _, _, err := readAll(bytes.NewReader(zall)); err == nil || !strings.Contains(err.Error(), "compressed record batches are not supported") {
		t.Errorf("zstd stream: %v", err)
	}
}

// fileBytes returns an IPC file of three batches.
func fileBytes(t testing.TB) []byte {
	s := testSchema(10)
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&seekBuf{b: &buf}, ipc.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rec := testRecord(s, int64(i))
		w.Write(rec)
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCheckFile: an IPC file passes; blocks outside the file, a cut footer
// and a corrupt footer are refused.
func TestCheckFile(t *testing.T) {
	all := fileBytes(t)
	if err := Check(all); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	n := len(all)
	flen := int(binary.LittleEndian.Uint32(all[n-10:]))
	footer := func(fn func(f *fbuf, ft table)) []byte {
		b := append([]byte(nil), all...)
		f := &fbuf{b: b[n-10-flen : n-10], budget: 1 << 40}
		fn(f, f.root("footer"))
		return b
	}
	blockAt := func(ft table, i uint32) uint32 { start, _ := ft.vector(3, 24, ""); return start + 24*i }
	put64 := func(f *fbuf, p uint32, v int64) { binary.LittleEndian.PutUint64(f.b[p:], uint64(v)) }
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"cut", all[:n-3], "truncated"},
		{"footer length huge", append(append(append([]byte(nil), all[:n-10]...), 0xff, 0xff, 0xff, 0x7f), "ARROW1"...), "footer length"},
		{"block body 2^40", footer(func(f *fbuf, ft table) { put64(f, blockAt(ft, 1)+16, 1<<40) }), "outside the file"},
		{"block offset negative", footer(func(f *fbuf, ft table) { put64(f, blockAt(ft, 0), -64) }), "outside the file"},
		{"block metadata 2^31-1", footer(func(f *fbuf, ft table) { put32(f, blockAt(ft, 2)+8, 0x7fffffff) }), "outside the file"},
		{"blocks vector length 10^9", footer(func(f *fbuf, ft table) { put32(f, vecPos(ft, 3), 1e9) }), "record batch blocks"},
		{"schema fields length 10^9", footer(func(f *fbuf, ft table) {
			s, _ := ft.sub(1, "")
			put32(f, vecPos(s, 1), 1e9)
		}), "fields"},
		{"block pointing at the schema message", footer(func(f *fbuf, ft table) { put64(f, blockAt(ft, 0), 8) }), "record batch 0"},
	} {
		err := Check(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// seekBuf is an io.WriteSeeker over a bytes.Buffer (appends only).
type seekBuf struct{ b *bytes.Buffer }

func (s *seekBuf) Write(p []byte) (int, error) { return s.b.Write(p) }
func (s *seekBuf) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekCurrent {
		return 0, errors.New("seekBuf: only Seek(0, io.SeekCurrent)")
	}
	return int64(s.b.Len()), nil
}

// FuzzGuard: arbitrary bytes through the guard and Arrow's stream reader,
// and through Check and Arrow's file reader: no panic escapes, no hang, and
// the allocation stays within a constant plus a multiple of the input.
func FuzzGuard(f *testing.F) {
	all, ends := testStream(f, 2)
	f.Add(all)
	f.Add(all[:ends[0]])
	f.Add(all[:ends[1]+3])
	f.Add([]byte("hello\n"))
	for _, in := range junk(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		func() {
			readAll(bytes.NewReader(in))
			readAll(pipe{bytes.NewReader(in)})
			checkAndReadFile(in)
		}()
		runtime.ReadMemStats(&b)
		if limit := uint64(4<<20 + 64*len(in)); b.TotalAlloc-a.TotalAlloc > limit {
			t.Fatalf("%d-byte input allocated %d bytes (limit %d)", len(in), b.TotalAlloc-a.TotalAlloc, limit)
		}
	})
}

// checkAndReadFile reads an IPC file with Arrow's file reader when Check
// accepts it (Arrow's own panics on corrupt data are recovered, as the
// readers of the entangle formats do).
func checkAndReadFile(in []byte) {
	if Check(in) != nil || !IsFile(in) {
		return
	}
	defer func() { recover() }()
	fr, err := ipc.NewFileReader(bytes.NewReader(in), ipc.WithAllocator(InputAllocator(len(in))))
	if err != nil {
		return
	}
	defer fr.Close()
	for i := 0; i < fr.NumRecords(); i++ {
		fr.Record(i)
	}
}

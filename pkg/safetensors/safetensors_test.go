package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sample returns one tensor of every supported dtype, including a scalar and
// an empty tensor, with values that exercise sign, NaN-free extremes and
// non-trivial bit patterns.
func sample() []Tensor {
	return []Tensor{
		F32("w", []int{2, 3}, []float32{1, -2, 0.5, float32(math.Pi), -0, math.MaxFloat32}),
		F64("h.0.b", []int{3}, []float64{math.SmallestNonzeroFloat64, -1e300, 1.0 / 3}),
		I32("tok", []int{4}, []int32{0, -1, math.MaxInt32, math.MinInt32}),
		I64("scalar", nil, []int64{math.MinInt64}),
		F32("empty", []int{0, 5}, nil),
		F32("last", []int{1}, []float32{7}),
	}
}

func encode(t *testing.T, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, ts, meta); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func decode(t *testing.T, b []byte) *File {
	t.Helper()
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return f
}

func TestRoundTrip(t *testing.T) {
	ts := sample()
	meta := map[string]string{"config": `{"vocab_size":64}`, "a": "b\"\n"}
	b := encode(t, ts, meta)
	// The header is padded so the data starts at a multiple of 8 bytes.
	if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
		t.Fatalf("data starts at %d, want a multiple of 8", 8+n)
	}
	f := decode(t, b)
	if !reflect.DeepEqual(f.Meta, meta) {
		t.Errorf("Meta = %v, want %v", f.Meta, meta)
	}
	if got, want := f.Names(), []string{"w", "h.0.b", "tok", "scalar", "empty", "last"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, want := range ts {
		got, ok := f.Tensor(want.Name)
		if !ok {
			t.Fatalf("Tensor(%q) missing", want.Name)
		}
		if got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
			t.Errorf("Tensor(%q) = %+v, want %+v", want.Name, got, want)
		}
		for i := range want.Shape {
			if got.Shape[i] != want.Shape[i] {
				t.Errorf("Tensor(%q).Shape = %v, want %v", want.Name, got.Shape, want.Shape)
			}
		}
	}
	w, err := f.Float32s("w")
	if err != nil || !reflect.DeepEqual(w, []float32{1, -2, 0.5, float32(math.Pi), -0, math.MaxFloat32}) {
		t.Errorf("Float32s(w) = %v, %v", w, err)
	}
	hb, err := f.Float64s("h.0.b")
	if err != nil || !reflect.DeepEqual(hb, []float64{math.SmallestNonzeroFloat64, -1e300, 1.0 / 3}) {
		t.Errorf("Float64s(h.0.b) = %v, %v", hb, err)
	}
	tok, err := f.Int32s("tok")
	if err != nil || !reflect.DeepEqual(tok, []int32{0, -1, math.MaxInt32, math.MinInt32}) {
		t.Errorf("Int32s(tok) = %v, %v", tok, err)
	}
	sc, err := f.Int64s("scalar")
	if err != nil || !reflect.DeepEqual(sc, []int64{math.MinInt64}) {
		t.Errorf("Int64s(scalar) = %v, %v", sc, err)
	}
	if _, err := f.Float64s("w"); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("Float64s(w) error = %v, want a dtype mismatch", err)
	}
	if _, err := f.Float32s("nope"); err == nil || !strings.Contains(err.Error(), "no tensor") {
		t.Errorf("Float32s(nope) error = %v, want a missing-tensor error", err)
	}
	// Re-encoding what was read gives the same bytes.
	if b2 := encode(t, f.Tensors, f.Meta); !bytes.Equal(b, b2) {
		t.Errorf("re-encoding changed the bytes:\n%q\n%q", b, b2)
	}
}

// TestGolden checks the exact bytes of a tiny file, worked out by hand from
// the format description:
//
//	header JSON  {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
//	             = 54 bytes, padded with 2 spaces to 56 = 0x38
//	length       38 00 00 00 00 00 00 00
//	data         1.0f  = 0x3F800000 → 00 00 80 3F
//	             -2.0f = 0xC0000000 → 00 00 00 C0
func TestGolden(t *testing.T) {
	want := []byte{0x38, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `...)
	want = append(want, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0)
	got := encode(t, []Tensor{F32("a", []int{2}, []float32{1, -2})}, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Write = %q\nwant    %q", got, want)
	}
	f := decode(t, want)
	if v, err := f.Float32s("a"); err != nil || !reflect.DeepEqual(v, []float32{1, -2}) {
		t.Errorf("Float32s(a) = %v, %v, want [1 -2]", v, err)
	}
	if f.Meta != nil {
		t.Errorf("Meta = %v, want nil", f.Meta)
	}
}

// TestGoldenMetadata is the same file with metadata {"k":"v"}:
//
//	{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
//	= 54 + len(`"__metadata__":{"k":"v"},`) = 54 + 25 = 79 bytes, padded to 80 = 0x50.
func TestGoldenMetadata(t *testing.T) {
	want := []byte{0x50, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, `{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} `...)
	want = append(want, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0)
	got := encode(t, []Tensor{F32("a", []int{2}, []float32{1, -2})}, map[string]string{"k": "v"})
	if !bytes.Equal(got, want) {
		t.Fatalf("Write = %q\nwant    %q", got, want)
	}
}

// file builds a raw safetensors file from a header string and data bytes,
// without any validation, for the corruption tests.
func file(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestReadErrors(t *testing.T) {
	eight := make([]byte, 8)
	valid := file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight)
	for _, tc := range []struct {
		name string
		b    []byte
		want string // substring of the error
	}{
		{"empty", nil, "truncated"},
		{"short length", []byte{1, 0, 0}, "truncated"},
		{"header beyond file", valid[:20], "beyond file"},
		{"huge header length", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, valid[8:]...), "beyond file"},
		{"data truncated", valid[:len(valid)-1], "out of range"},
		{"extra data", append(append([]byte(nil), valid...), 0), "belong to no tensor"},
		{"bad json", file(`{"a":`, nil), "bad header JSON"},
		{"not an object", file(`[1,2]`, nil), "not an object"},
		{"trailing garbage", file(`{}x`, nil), "trailing"},
		{"trailing second object", file(`{} {}`, nil), "trailing"},
		{"padding ok but then junk", file(`{}  .`, nil), "trailing"},
		{"invalid utf8", file("{\"\xff\":{}}", nil), "UTF-8"},
		{"duplicate tensor", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "duplicate key"},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, eight), "duplicate key"},
		{"unknown field", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight), "unknown field"},
		{"missing field", file(`{"a":{"dtype":"F32","shape":[2]}}`, eight), "need dtype"},
		{"unknown dtype", file(`{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,8]}}`, eight), "unknown dtype"},
		{"BF16 size mismatch", file(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}}`, eight), "got=8 bytes"},
		{"shape size mismatch", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "got=8 bytes"},
		{"dtype size mismatch", file(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, eight), "got=8 bytes"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "invalid shape"},
		{"overflowing shape", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "invalid shape"},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, eight), "bad header entry"},
		{"offsets reversed", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, eight), "out of range"},
		{"offsets negative", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, eight), "out of range"},
		{"offsets three", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, eight), "want 2"},
		{"offsets beyond data", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, eight), "out of range"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlap"},
		{"gap", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "belong to no tensor"},
		{"gap in middle", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "belong to no tensor"},
		{"metadata not strings", file(`{"__metadata__":{"k":1}}`, nil), "must map strings"},
		{"metadata null", file(`{"__metadata__":null}`, nil), "must map strings"},
		{"metadata duplicate", file(`{"__metadata__":{"k":"a","k":"b"}}`, nil), "duplicate key"},
		{"empty name", file(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), "empty tensor name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(tc.b), int64(len(tc.b)))
			if err == nil {
				t.Fatalf("Read = %+v, nil; want error containing %q", f, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("Read error = %q, want prefix \"safetensors: \" and %q", err, tc.want)
			}
		})
	}
	// The uncorrupted base case reads fine, so the errors above come from the corruption.
	if _, err := Read(bytes.NewReader(valid), int64(len(valid))); err != nil {
		t.Fatalf("Read(valid) = %v", err)
	}
}

// TestReadForeign reads a file laid out differently from what Write emits:
// tensors listed out of data order, metadata last, whitespace in the JSON.
func TestReadForeign(t *testing.T) {
	data := []byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f} // I32 1, I32 2, F64 1.0
	b := file(` { "y" : {"shape":[], "dtype":"F64", "data_offsets":[8,16]},
		"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}, "__metadata__":{"format":"pt"} }   `, data)
	f := decode(t, b)
	if got := f.Names(); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("Names() = %v, want [x y] (data order)", got)
	}
	x, _ := f.Int32s("x")
	y, _ := f.Float64s("y")
	if !reflect.DeepEqual(x, []int32{1, 2}) || !reflect.DeepEqual(y, []float64{1}) || f.Meta["format"] != "pt" {
		t.Errorf("got x=%v y=%v meta=%v", x, y, f.Meta)
	}
}

func TestWriteErrors(t *testing.T) {
	good := F32("a", []int{1}, []float32{1})
	for _, tc := range []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"duplicate", []Tensor{good, good}, "duplicate"},
		{"bad dtype", []Tensor{{Name: "a", DType: "F12", Shape: []int{1}, Data: make([]byte, 2)}}, "unknown dtype"},
		{"size mismatch", []Tensor{{Name: "a", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}}, "got=4 bytes"},
		{"empty name", []Tensor{{Name: "", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, "empty"},
		{"reserved name", []Tensor{{Name: metadataKey, DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.ts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write error = %v, want %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	ts := sample()
	if err := WriteFile(path, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	// Overwrite with a different content; the old file is replaced whole.
	if err := WriteFile(path, ts[:1], nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"w"}) || f.Meta != nil {
		t.Errorf("after overwrite: names %v meta %v, want [w] nil", got, f.Meta)
	}
	// A failed write leaves the old file and no temporary behind.
	if err := WriteFile(path, []Tensor{ts[0], ts[0]}, nil); err == nil {
		t.Fatal("WriteFile with duplicate names succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(entries))
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadFile(missing) succeeded")
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, sample(), map[string]string{"config": `{"width":16}`})
	f.Add(buf.Bytes())
	buf.Reset()
	Write(&buf, []Tensor{F32("a", []int{2}, []float32{1, -2})}, nil)
	f.Add(buf.Bytes())
	f.Add(file(`{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}, "__metadata__":{} }`, make([]byte, 8)))
	f.Add(file(`{}`, nil))
	f.Add(file(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"m":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}}`,
		[]byte{0x00, 0x3c, 0x01, 0x7c, 0x80, 0x3f, 0xc1, 0xff, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		file, err := Read(bytes.NewReader(b), int64(len(b)))
		h, herr := ReadHeader(bytes.NewReader(b), int64(len(b)))
		if (err == nil) != (herr == nil) {
			t.Fatalf("Read error %v, ReadHeader error %v", err, herr)
		}
		if err != nil {
			return
		}
		// ReadHeader describes exactly the tensors Read returns, and every
		// float tensor converts.
		for i, x := range file.Tensors {
			in := h.Tensors[i]
			if in.Name != x.Name || in.DType != x.DType || int(in.End-in.Begin) != len(x.Data) {
				t.Fatalf("ReadHeader tensor %d = %+v, Read %s %s %d bytes", i, in, x.Name, x.DType, len(x.Data))
			}
			if IsFloat(x.DType) {
				size, _ := DTypeSize(x.DType)
				v := make([]float32, len(x.Data)/size)
				DecodeFloat32s(v, x.DType, x.Data)
				if x.DType != "F32" && !bytes.Equal(EncodeFloat32s(x.DType, v), x.Data) {
					t.Fatalf("tensor %s: %s → float32 → %s changed the bytes", x.Name, x.DType, x.DType)
				}
			}
		}
		// Valid: the decoded file re-encodes, the re-encoding reads back to
		// the same tensors, and encoding is then a fixed point.
		var b1 bytes.Buffer
		if err := Write(&b1, file.Tensors, file.Meta); err != nil {
			t.Fatalf("Write of a valid file failed: %v", err)
		}
		f2, err := Read(bytes.NewReader(b1.Bytes()), int64(b1.Len()))
		if err != nil {
			t.Fatalf("Read of re-encoded file failed: %v", err)
		}
		if len(f2.Tensors) != len(file.Tensors) {
			t.Fatalf("re-encoded file has %d tensors, want %d", len(f2.Tensors), len(file.Tensors))
		}
		for i := range file.Tensors {
			a, c := file.Tensors[i], f2.Tensors[i]
			if a.Name != c.Name || a.DType != c.DType || !bytes.Equal(a.Data, c.Data) || len(a.Shape) != len(c.Shape) {
				t.Fatalf("tensor %d changed: %+v → %+v", i, a, c)
			}
		}
		var b2 bytes.Buffer
		if err := Write(&b2, f2.Tensors, f2.Meta); err != nil || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatalf("encoding is not a fixed point (err %v)", err)
		}
	})
}

// TestF32ViewBytes: a file written from F32View tensors (lengths around the
// 64 KiB encoding buffer, an empty one, a scalar) has exactly the bytes of
// the same file written from F32 copies, and the view keeps no copy.
func TestF32ViewBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	var copies, views []Tensor
	for i, n := range []int{0, 1, 16383, 16384, 16385, 50000} {
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		name := fmt.Sprintf("t%d", i)
		copies = append(copies, F32(name, []int{n}, v))
		views = append(views, F32View(name, []int{n}, v))
	}
	s := []float32{3.5}
	copies = append(copies, F32("scalar", nil, s))
	views = append(views, F32View("scalar", nil, s))
	for _, v := range views {
		if v.Data != nil {
			t.Fatalf("%s: F32View copied its data", v.Name)
		}
	}
	meta := map[string]string{"k": "v"}
	var a, b bytes.Buffer
	if err := Write(&a, copies, meta); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, views, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("F32View wrote %d bytes that differ from F32's %d", b.Len(), a.Len())
	}
	path := filepath.Join(t.TempDir(), "v.safetensors")
	if err := WriteFile(path, views, meta); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, a.Bytes()) {
		t.Fatal("WriteFile of views differs from Write of copies")
	}
	bad := F32View("short", []int{2}, []float32{1, 2})
	bad.Shape = []int{3}
	if err := Write(io.Discard, []Tensor{bad}, nil); err == nil {
		t.Fatal("a view whose shape does not match its length was written")
	}
}

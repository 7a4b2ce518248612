package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderLen is the largest header Read accepts (100 MiB, the bound the
// reference implementation uses), so a corrupt length cannot make Read
// allocate without limit.
const MaxHeaderLen = 100 << 20

// metadataKey is the reserved header key holding the string→string metadata.
const metadataKey = "__metadata__"

// Tensor is one named tensor: its dtype, its shape (row-major, outermost
// first; an empty shape is a scalar) and its raw little-endian bytes.
type Tensor struct {
	Name  string
	DType string // "F32", "F16", "BF16", "I64", …: see DTypeSize
	Shape []int
	Data  []byte

	f32 []float32 // F32View: encoded while writing, Data nil
}

// nbytes is the tensor's length in the file.
func (t *Tensor) nbytes() int {
	if t.f32 != nil {
		return 4 * len(t.f32)
	}
	return len(t.Data)
}

// DTypeSize returns the size in bytes of one element of dtype, and false when
// the dtype is not one of the safetensors dtypes this package knows:
//
//	BOOL, U8, I8, F8_E4M3, F8_E5M2   1 byte
//	I16, U16, F16, BF16              2 bytes
//	I32, U32, F32                    4 bytes
//	I64, U64, F64                    8 bytes
//
// Every known dtype can be read and written as raw bytes; [DecodeFloat32s]
// converts F32, F16 and BF16 to float32.
func DTypeSize(dtype string) (int, bool) {
	switch dtype {
	case "BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2":
		return 1, true
	case "I16", "U16", "F16", "BF16":
		return 2, true
	case "F32", "I32", "U32":
		return 4, true
	case "F64", "I64", "U64":
		return 8, true
	}
	return 0, false
}

// dtypeList is the list of known dtypes for error messages.
const dtypeList = "F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8 or BOOL"

// NumElements returns the product of shape (1 for a scalar), and false when a
// dimension is negative or the product overflows an int.
func NumElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// F32 returns a Tensor of dtype F32 holding a little-endian copy of data.
// It panics if len(data) is not the product of shape.
func F32(name string, shape []int, data []float32) Tensor {
	checkLen(len(data), shape)
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: "F32", Shape: append([]int(nil), shape...), Data: b}
}

// F32View returns a Tensor of dtype F32 that refers to data instead of
// copying it: Write encodes it piece by piece, so writing a large model (or
// its optimizer moments) needs no second copy in memory. The file's bytes are
// those of F32; Data stays nil, and data must not change until the write is
// done. It panics if len(data) is not the product of shape.
func F32View(name string, shape []int, data []float32) Tensor {
	checkLen(len(data), shape)
	if data == nil {
		data = []float32{}
	}
	return Tensor{Name: name, DType: "F32", Shape: append([]int(nil), shape...), f32: data}
}

// writeF32 writes v little-endian through a 64 KiB buffer.
func writeF32(w io.Writer, v []float32) error {
	var buf [1 << 16]byte
	for len(v) > 0 {
		n := min(len(v), len(buf)/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// F64 returns a Tensor of dtype F64 holding a little-endian copy of data.
// It panics if len(data) is not the product of shape.
func F64(name string, shape []int, data []float64) Tensor {
	checkLen(len(data), shape)
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: "F64", Shape: append([]int(nil), shape...), Data: b}
}

// I32 returns a Tensor of dtype I32 holding a little-endian copy of data.
// It panics if len(data) is not the product of shape.
func I32(name string, shape []int, data []int32) Tensor {
	checkLen(len(data), shape)
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, DType: "I32", Shape: append([]int(nil), shape...), Data: b}
}

// I64 returns a Tensor of dtype I64 holding a little-endian copy of data.
// It panics if len(data) is not the product of shape.
func I64(name string, shape []int, data []int64) Tensor {
	checkLen(len(data), shape)
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: "I64", Shape: append([]int(nil), shape...), Data: b}
}

func checkLen(n int, shape []int) {
	want, ok := NumElements(shape)
	if !ok || want != n {
		panic("safetensors: data length does not match shape")
	}
}

// check validates one tensor for writing: a known dtype, a non-empty name
// that is not the metadata key, and a byte length equal to the element count
// times the dtype size.
func (t *Tensor) check() error {
	if t.Name == "" {
		return errors.New("safetensors: empty tensor name")
	}
	if t.Name == metadataKey {
		return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
	}
	size, ok := DTypeSize(t.DType)
	if !ok {
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q (want "+dtypeList+")", t.Name, t.DType)
	}
	n, ok := NumElements(t.Shape)
	if !ok || n > math.MaxInt/size {
		return fmt.Errorf("safetensors: tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	if n*size != t.nbytes() {
		return fmt.Errorf("safetensors: tensor %q: shape %v × %s size %d = %d bytes, got=%d bytes",
			t.Name, t.Shape, t.DType, size, n*size, t.nbytes())
	}
	return nil
}

// encodeHeader returns the JSON header for tensors laid out back to back in
// the given order, padded with spaces to a multiple of 8 bytes. Metadata keys
// are written sorted, so the encoding is a function of (tensors, meta) only.
func encodeHeader(tensors []Tensor, meta map[string]string) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	str := func(s string) error {
		if !utf8.ValidString(s) {
			return fmt.Errorf("safetensors: string %q is not valid UTF-8", s)
		}
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
		h.Write(b)
		return nil
	}
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		comma()
		h.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			if err := str(k); err != nil {
				return nil, err
			}
			h.WriteByte(':')
			if err := str(meta[k]); err != nil {
				return nil, err
			}
		}
		h.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	off := 0
	for i := range tensors {
		t := &tensors[i]
		if err := t.check(); err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		comma()
		if err := str(t.Name); err != nil {
			return nil, err
		}
		h.WriteString(`:{"dtype":"` + t.DType + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + t.nbytes()
		h.WriteString(`],"data_offsets":[` + strconv.Itoa(off) + `,` + strconv.Itoa(end) + `]}`)
		off = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes(), nil
}

// Write encodes tensors (in the given order, packed back to back) and meta
// (may be nil; omitted when empty) to w. It returns an error, writing
// nothing, if a tensor is invalid (see [Tensor] and the package doc) or two
// tensors share a name.
func Write(w io.Writer, tensors []Tensor, meta map[string]string) error {
	hdr, err := encodeHeader(tensors, meta)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	for i := range tensors {
		var err error
		if t := &tensors[i]; t.f32 != nil {
			err = writeF32(w, t.f32)
		} else {
			_, err = w.Write(t.Data)
		}
		if err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
	}
	return nil
}

// WriteFile writes tensors and meta to path atomically: it writes a temporary
// file in the same directory, syncs it, and renames it over path, so a reader
// sees either the old file or the complete new one.
func WriteFile(path string, tensors []Tensor, meta map[string]string) (err error) {
	// Validate before creating anything.
	if _, err := encodeHeader(tensors, meta); err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = Write(bw, tensors, meta); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// CreateTemp makes the file private; a checkpoint is an ordinary output.
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// Persist the rename itself; best effort (not every filesystem allows
	// syncing a directory).
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// File is a decoded safetensors file. Tensors are in ascending data-offset
// order, which for files written by [Write] is the order they were given in.
// Tensor data slices alias one buffer owned by the File.
type File struct {
	Tensors []Tensor
	Meta    map[string]string // nil when the file has no "__metadata__"
	index   map[string]int
}

// Tensor returns the tensor called name, and false if there is none.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Names returns the tensor names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i := range f.Tensors {
		names[i] = f.Tensors[i].Name
	}
	return names
}

func (f *File) typed(name, dtype string) (Tensor, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: no tensor %q", name)
	}
	if t.DType != dtype {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: dtype got=%s, want=%s", name, t.DType, dtype)
	}
	return t, nil
}

// Float32s returns a copy of the F32 tensor called name. It is an error if
// the tensor is missing or has another dtype.
func (f *File) Float32s(name string) ([]float32, error) {
	t, err := f.typed(name, "F32")
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Float64s returns a copy of the F64 tensor called name. It is an error if
// the tensor is missing or has another dtype.
func (f *File) Float64s(name string) ([]float64, error) {
	t, err := f.typed(name, "F64")
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(t.Data)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Int32s returns a copy of the I32 tensor called name. It is an error if the
// tensor is missing or has another dtype.
func (f *File) Int32s(name string) ([]int32, error) {
	t, err := f.typed(name, "I32")
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(t.Data)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Int64s returns a copy of the I64 tensor called name. It is an error if the
// tensor is missing or has another dtype.
func (f *File) Int64s(name string) ([]int64, error) {
	t, err := f.typed(name, "I64")
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Data)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// ReadFile reads and validates the safetensors file at path.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	file, err := Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return file, nil
}

// headerEntry is one tensor's header record; every field is required.
type headerEntry struct {
	DType       *string `json:"dtype"`
	Shape       *[]int  `json:"shape"`
	DataOffsets *[]int  `json:"data_offsets"`
}

// Read reads and validates a safetensors file of size bytes from r. All
// tensor data is read into memory; [Open] reads tensors one at a time.
func Read(r io.ReaderAt, size int64) (*File, error) {
	h, err := ReadHeader(r, size)
	if err != nil {
		return nil, err
	}
	data := make([]byte, h.DataLen)
	if _, err := r.ReadAt(data, h.DataStart); err != nil && !(errors.Is(err, io.EOF) && h.DataLen == 0) {
		return nil, fmt.Errorf("safetensors: reading data: %w", err)
	}
	f := &File{Meta: h.Meta, index: h.index}
	for _, in := range h.Tensors {
		f.Tensors = append(f.Tensors, Tensor{Name: in.Name, DType: in.DType, Shape: in.Shape,
			Data: data[in.Begin:in.End:in.End]})
	}
	return f, nil
}

type namedEntry struct {
	name string
	h    headerEntry
}

// parseHeader decodes the header JSON: a single object whose keys are tensor
// names (each mapping to a complete headerEntry) plus an optional
// "__metadata__" object of strings. Duplicate keys, unknown fields and
// trailing non-space bytes are errors.
func parseHeader(hdr []byte) ([]namedEntry, map[string]string, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("safetensors: bad header: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	bad := func(err error) error { return fmt.Errorf("safetensors: bad header JSON: %w", err) }
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, bad(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("safetensors: bad header JSON: not an object")
	}
	var entries []namedEntry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("safetensors: bad header JSON: key is not a string")
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("safetensors: bad header JSON: duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, bad(err)
		}
		if key == metadataKey {
			if err := strictUnmarshal(raw, &meta); err != nil || meta == nil {
				return nil, nil, fmt.Errorf("safetensors: bad header: %s must map strings to strings", metadataKey)
			}
			if err := noDuplicateKeys(raw); err != nil {
				return nil, nil, fmt.Errorf("safetensors: bad header: %s: %w", metadataKey, err)
			}
			continue
		}
		var h headerEntry
		if err := strictUnmarshal(raw, &h); err != nil {
			return nil, nil, fmt.Errorf("safetensors: bad header entry for tensor %q: %w", key, err)
		}
		if h.DType == nil || h.Shape == nil || h.DataOffsets == nil {
			return nil, nil, fmt.Errorf("safetensors: bad header entry for tensor %q: need dtype, shape and data_offsets", key)
		}
		if err := noDuplicateKeys(raw); err != nil {
			return nil, nil, fmt.Errorf("safetensors: bad header entry for tensor %q: %w", key, err)
		}
		entries = append(entries, namedEntry{key, h})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, bad(err)
	}
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " ")) != 0 {
		return nil, nil, errors.New("safetensors: bad header JSON: trailing bytes after the object (only space padding is allowed)")
	}
	return entries, meta, nil
}

// strictUnmarshal decodes raw into v, rejecting unknown object fields.
func strictUnmarshal(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// noDuplicateKeys reports an error if the JSON object raw repeats a key at its
// top level (encoding/json would silently keep the last one).
func noDuplicateKeys(raw []byte) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		if seen[k] {
			return fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Info describes one tensor of a header: its dtype, shape and the byte range
// [Begin, End) of its data, relative to the start of the byte buffer.
type Info struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int64
}

// Header is a decoded and validated safetensors header: what a file holds,
// without its data. Tensors are in ascending data-offset order.
type Header struct {
	Tensors   []Info
	Meta      map[string]string // nil when the file has no "__metadata__"
	DataStart int64             // file offset of the byte buffer (8 + header length)
	DataLen   int64             // length of the byte buffer
	index     map[string]int
}

// Info returns the tensor called name, and false if there is none.
func (h *Header) Info(name string) (Info, bool) {
	i, ok := h.index[name]
	if !ok {
		return Info{}, false
	}
	return h.Tensors[i], true
}

// ReadHeader reads and validates the header of a safetensors file of size
// bytes from r, without reading tensor data. It applies every check of
// [Read]: the tensors' byte ranges tile the byte buffer exactly, so the
// shapes it returns are backed by bytes that exist, and a caller may size
// allocations from them.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: truncated file: %d bytes, need at least 8 for the header length", size)
	}
	var nb [8]byte
	if _, err := r.ReadAt(nb[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d beyond file (%d bytes after the length)", n, size-8)
	}
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the maximum %d", n, MaxHeaderLen)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	dataLen := size - 8 - int64(n)
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	// Validate every entry and check that the offsets tile [0, dataLen).
	h := &Header{Meta: meta, DataStart: 8 + int64(n), DataLen: dataLen, index: make(map[string]int, len(entries))}
	for _, e := range entries {
		name, he := e.name, e.h
		if name == "" {
			return nil, errors.New("safetensors: empty tensor name")
		}
		esize, ok := DTypeSize(*he.DType)
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q (want "+dtypeList+")", name, *he.DType)
		}
		numel, ok := NumElements(*he.Shape)
		if !ok || numel > math.MaxInt/esize {
			return nil, fmt.Errorf("safetensors: tensor %q: invalid shape %v", name, *he.Shape)
		}
		off := *he.DataOffsets
		if len(off) != 2 {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets has %d values, want 2", name, len(off))
		}
		b, en := int64(off[0]), int64(off[1])
		if b < 0 || en < b || en > dataLen {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] out of range [0,%d]", name, b, en, dataLen)
		}
		if int64(numel)*int64(esize) != en-b {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v × %s size %d = %d bytes, got=%d bytes (data_offsets [%d,%d])",
				name, *he.Shape, *he.DType, esize, numel*esize, en-b, b, en)
		}
		h.Tensors = append(h.Tensors, Info{Name: name, DType: *he.DType, Shape: *he.Shape, Begin: b, End: en})
	}
	sort.SliceStable(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var pos int64
	for i, s := range h.Tensors {
		if s.Begin < pos {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] overlap the previous tensor (ends at %d)",
				s.Name, s.Begin, s.End, pos)
		}
		if s.Begin > pos {
			return nil, fmt.Errorf("safetensors: bytes [%d,%d) of the data buffer belong to no tensor", pos, s.Begin)
		}
		pos = s.End
		h.index[s.Name] = i
	}
	if pos != dataLen {
		return nil, fmt.Errorf("safetensors: bytes [%d,%d) of the data buffer belong to no tensor", pos, dataLen)
	}
	return h, nil
}

// Reader reads the tensors of an open safetensors file one at a time, so a
// caller holds only the tensors it converted, never the whole byte buffer.
type Reader struct {
	*Header
	Path string
	f    *os.File
}

// Open opens the safetensors file at path and reads its header ([ReadHeader]).
// Errors name the file. Close the Reader when done.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	h, err := ReadHeader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return &Reader{Header: h, Path: path, f: f}, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// Bytes returns the raw little-endian bytes of the tensor called name.
func (r *Reader) Bytes(name string) ([]byte, error) {
	in, ok := r.Info(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q (file %s)", name, r.Path)
	}
	b := make([]byte, in.End-in.Begin)
	if _, err := r.f.ReadAt(b, r.DataStart+in.Begin); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, fmt.Errorf("safetensors: reading tensor %q: %w (file %s)", name, err, r.Path)
	}
	return b, nil
}

// chunk is the number of bytes ReadFloat32s converts at a time.
const chunk = 1 << 20

// ReadFloat32s reads the tensor called name, of dtype F32, F16 or BF16, into
// dst as float32 (exact: every F16 and BF16 value is a float32). dst must
// have exactly the tensor's element count. The data is read in chunks of
// 1 MiB, so the only large allocation is the caller's dst.
func (r *Reader) ReadFloat32s(name string, dst []float32) error {
	in, ok := r.Info(name)
	if !ok {
		return fmt.Errorf("safetensors: no tensor %q (file %s)", name, r.Path)
	}
	esize, _ := DTypeSize(in.DType)
	if !IsFloat(in.DType) {
		return fmt.Errorf("safetensors: tensor %q has dtype %s, want F32, F16 or BF16 (file %s)", name, in.DType, r.Path)
	}
	if n := (in.End - in.Begin) / int64(esize); n != int64(len(dst)) {
		return fmt.Errorf("safetensors: tensor %q has %d elements, the destination %d (file %s)", name, n, len(dst), r.Path)
	}
	buf := make([]byte, min(chunk, in.End-in.Begin))
	per := len(buf) / esize
	for off := 0; off < len(dst); off += per {
		k := min(per, len(dst)-off)
		b := buf[:k*esize]
		if _, err := r.f.ReadAt(b, r.DataStart+in.Begin+int64(off*esize)); err != nil {
			return fmt.Errorf("safetensors: reading tensor %q: %w (file %s)", name, err, r.Path)
		}
		DecodeFloat32s(dst[off:off+k], in.DType, b)
	}
	return nil
}

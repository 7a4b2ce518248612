package arrowio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ErrTruncated is wrapped by the errors of a stream that ends before its
// end-of-stream marker: inside a message, or between two messages (a writer
// that was killed or is still writing). Every message before that point was
// complete.
var ErrTruncated = errors.New("truncated Arrow stream")

// MaxMetadata bounds the flatbuffer metadata of one IPC message (a schema
// with its key/value metadata, or a record batch's buffer table).
const MaxMetadata = 64 << 20

// stageChunk is the size of the chunks in which a message body of unknown
// remaining input is read before Arrow sees its length.
const stageChunk = 1 << 20

// CorruptError is a malformed IPC stream or file, at a byte offset.
type CorruptError struct {
	Offset   int64  // byte offset of the message (or of the file footer)
	Msg      string // what is wrong
	NotArrow bool   // the input does not start like Arrow IPC at all
}

func (e *CorruptError) Error() string {
	if e.NotArrow {
		return "not an Arrow IPC stream (" + e.Msg + ")"
	}
	return fmt.Sprintf("corrupt Arrow data at byte %d: %s", e.Offset, e.Msg)
}

// Guard sits between an Arrow IPC stream and Arrow's stream reader
// (ipc.NewReader(g)) and hands Arrow a message only after checking it, so
// that no length in the input can make Arrow allocate more than the input
// holds:
//
//   - the metadata length (after the 0xFFFFFFFF continuation marker, or the
//     legacy form without it) must be at most MaxMetadata and at most what is
//     left of the input;
//   - the metadata flatbuffer is verified (offsets, vector lengths, nesting,
//     record batch buffers inside the body; see verifyMessage) before Arrow
//     parses it;
//   - the body length must be at most what is left of the input.
//
// What is left is known for inputs with a size (regular files, bytes and
// strings readers); it is measured again, not assumed, when a message seems
// to run past the end, so a file still being written is followed. For a pipe,
// the metadata is read in growing pieces and a body in chunks of 1 MiB
// before Arrow allocates it: memory then follows the bytes that actually
// arrived (a body is held twice, once by the guard and once by Arrow).
//
// A stream that ends before its end-of-stream marker gives an error wrapping
// ErrTruncated (at a message boundary too: Arrow alone would take that for a
// clean end). Malformed input gives a *CorruptError.
type Guard struct {
	r     io.Reader
	off   int64  // bytes read from r
	head  []byte // the first bytes of the input (up to 8)
	msgs  int    // messages handed on
	bufs  int64  // buffers listed by the record batches read
	ended bool   // the end-of-stream marker was handed on
	err   error  // sticky

	out   []byte   // bytes ready for Arrow: framing and metadata of the current message
	body  int64    // body bytes of the current message still to pass through from r
	stage [][]byte // a staged body (pipes), handed on in order
}

// NewGuard returns a guard reading the IPC stream r.
func NewGuard(r io.Reader) *Guard { return &Guard{r: r} }

// Head returns the first bytes read (up to 8), to tell an IPC file from a
// stream or from something else.
func (g *Guard) Head() []byte { return g.head }

// Offset returns the number of bytes read from the input.
func (g *Guard) Offset() int64 { return g.off }

// Messages returns the number of messages read (the end-of-stream marker
// aside).
func (g *Guard) Messages() int { return g.msgs }

// Ended reports whether the end-of-stream marker was read.
func (g *Guard) Ended() bool { return g.ended }

// Allocator returns an allocator for Arrow's reader of this stream (wrapping
// mem): the sum of everything allocated through it stays within twice the
// bytes of the messages read so far (the current one whole), plus 64 bytes
// per buffer for Arrow's rounding and 1 MiB. Reading a valid stream copies
// each body once and each buffer once; a corrupt buffer table (Arrow reads as
// many buffers as the schema needs, past the end of the table if it is
// short) is refused instead of allocated.
func (g *Guard) Allocator(mem memory.Allocator) memory.Allocator {
	return budgetAllocator(mem, func() int64 { return 2*(g.off+g.body) + 64*g.bufs + 128*int64(g.msgs) + 1<<20 })
}

// Err returns the error that stopped the guard, if any.
func (g *Guard) Err() error { return g.err }

// Read hands on the stream, one checked message at a time.
func (g *Guard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch {
		case len(g.out) > 0:
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		case len(g.stage) > 0:
			n := copy(p, g.stage[0])
			if g.stage[0] = g.stage[0][n:]; len(g.stage[0]) == 0 {
				g.stage[0] = nil
				g.stage = g.stage[1:]
			}
			return n, nil
		case g.body > 0:
			n, err := g.r.Read(p[:min(int64(len(p)), g.body)])
			g.off += int64(n)
			g.body -= int64(n)
			switch {
			case n > 0:
				return n, nil
			case err == nil:
				continue
			case err == io.EOF:
				return 0, g.fail(fmt.Errorf("%w: the input ends inside a message body at byte %d (%d bytes missing)", ErrTruncated, g.off, g.body))
			}
			return 0, g.fail(err)
		case g.err != nil:
			return 0, g.err
		case g.ended:
			return 0, io.EOF
		}
		if err := g.next(); err != nil {
			return 0, g.fail(err)
		}
	}
}

func (g *Guard) fail(err error) error {
	if g.err == nil {
		g.err = err
	}
	return g.err
}

// readFull reads len(b) bytes; a short input is ErrTruncated (or, before
// any byte of the stream, io.EOF).
func (g *Guard) readFull(b []byte, what string) error {
	n, err := io.ReadFull(g.r, b)
	if len(g.head) < 8 {
		g.head = append(g.head, b[:min(n, 8-len(g.head))]...)
	}
	g.off += int64(n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF && n == 0 && what != "":
		if what == "" {
			what = "a message"
		}
		return fmt.Errorf("%w: the input ends inside %s at byte %d", ErrTruncated, what, g.off)
	}
	return err
}

// remaining returns the bytes left in the input, or -1 when unknown.
func remaining(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - off
	}
	return -1
}

// next reads and checks the framing and metadata of the next message.
func (g *Guard) next() error {
	start := g.off
	var pre [8]byte
	err := g.readFull(pre[:4], "")
	if err == io.EOF {
		if g.off == 0 {
			return io.EOF // empty input: Arrow says so itself
		}
		return fmt.Errorf("%w: no end-of-stream marker after %d messages (byte %d)", ErrTruncated, g.msgs, g.off)
	}
	if err != nil {
		return err
	}
	framing := 4
	length := binary.LittleEndian.Uint32(pre[:4])
	if length == 0xFFFFFFFF {
		if err := g.readFull(pre[4:8], "a message's length"); err != nil {
			return err
		}
		framing = 8
		length = binary.LittleEndian.Uint32(pre[4:8])
	}
	if length == 0 {
		g.ended = true
		g.out = append([]byte(nil), pre[:framing]...)
		return nil
	}
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Offset: start, Msg: fmt.Sprintf(format, args...)}
	}
	notArrow := func(format string, args ...any) error {
		if len(g.head) < 8 {
			// Complete the head, so that the caller can tell an IPC file.
			var b [8]byte
			g.readFull(b[:8-len(g.head)], "")
		}
		return &CorruptError{Offset: start, Msg: fmt.Sprintf(format, args...), NotArrow: true}
	}
	if int32(length) < 0 || length > MaxMetadata {
		if g.msgs == 0 && framing == 4 {
			return notArrow("it starts with % x", pre[:4])
		}
		return corrupt("message metadata of %d bytes (at most %d)", int32(length), MaxMetadata)
	}
	if left := remaining(g.r); left >= 0 && int64(length) > left {
		if g.msgs == 0 && framing == 4 {
			return notArrow("it starts with % x", pre[:4])
		}
		return fmt.Errorf("%w: the message at byte %d has %d bytes of metadata, the input %d", ErrTruncated, start, length, left)
	}
	// Read the metadata in growing pieces, so that a length the input does
	// not back costs no more than the input.
	meta := make([]byte, min(int(length), 64<<10))
	if err := g.readFull(meta, "a message's metadata"); err != nil {
		return err
	}
	for len(meta) < int(length) {
		k := min(int(length)-len(meta), len(meta)) // double what arrived
		meta = slices.Grow(meta, k)[:len(meta)+k]
		if err := g.readFull(meta[len(meta)-k:], "a message's metadata"); err != nil {
			return err
		}
	}
	typ, body, nbuf, err := verifyMessage(meta, -1)
	if err != nil {
		if g.msgs == 0 && framing == 4 {
			return notArrow("%v", err)
		}
		return corrupt("%v", err)
	}
	if g.msgs == 0 && typ != headerSchema {
		return corrupt("the stream does not start with a schema (message type %d)", typ)
	}
	if left := remaining(g.r); left >= 0 && body > left {
		return fmt.Errorf("%w: the message at byte %d has a body of %d bytes, the input %d left", ErrTruncated, start, body, left)
	}
	g.out = append(append(make([]byte, 0, framing+len(meta)), pre[:framing]...), meta...)
	g.msgs++
	g.bufs += int64(nbuf)
	if body == 0 {
		return nil
	}
	if remaining(g.r) >= 0 {
		g.body = body
		return nil
	}
	// A pipe: stage the body before Arrow allocates it, in chunks that grow
	// with what arrived (64 KiB, then as much again, up to 1 MiB).
	for left, have := body, int64(0); left > 0; {
		c := make([]byte, min(left, max(64<<10, min(have, stageChunk))))
		n, err := io.ReadFull(g.r, c)
		g.off += int64(n)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fmt.Errorf("%w: the input ends inside a message body at byte %d (%d bytes missing)", ErrTruncated, g.off, left-int64(n))
			}
			return err
		}
		g.stage = append(g.stage, c)
		left -= int64(n)
		have += int64(n)
	}
	return nil
}

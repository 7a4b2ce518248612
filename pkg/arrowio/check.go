package arrowio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Check verifies a whole Arrow IPC stream or file held in memory (an IPC file
// when it starts with the "ARROW1" magic) before Arrow reads it: for a
// stream, every message as Guard checks it, up to the end-of-stream marker;
// for a file, the footer, and every block's position, metadata and buffers
// against the file. An empty input passes (the reader reports it).
func Check(all []byte) error {
	if IsFile(all) {
		return checkFile(all)
	}
	_, err := io.Copy(io.Discard, NewGuard(bytes.NewReader(all)))
	return err
}

// checkFile checks an IPC file: "ARROW1", padding, the stream of messages,
// the footer flatbuffer, its int32 length and "ARROW1".
func checkFile(all []byte) error {
	const magic = 6
	n := int64(len(all))
	if n <= 2*magic+4 {
		return &CorruptError{Offset: 0, Msg: fmt.Sprintf("an Arrow IPC file of %d bytes is too short", n)}
	}
	if string(all[n-magic:]) != "ARROW1" {
		return fmt.Errorf("%w: the Arrow IPC file does not end with its footer (no closing ARROW1 magic)", ErrTruncated)
	}
	flen := int64(int32(binary.LittleEndian.Uint32(all[n-magic-4:])))
	fstart := n - magic - 4 - flen
	if flen <= 0 || fstart < 8 {
		return &CorruptError{Offset: n - magic - 4, Msg: fmt.Sprintf("footer length %d does not fit the %d-byte file", flen, n)}
	}
	dicts, batches, err := verifyFooter(all[fstart : n-magic-4])
	if err != nil {
		return &CorruptError{Offset: fstart, Msg: "footer: " + err.Error()}
	}
	check := func(b block, want byte, what string, i int) error {
		bad := func(format string, args ...any) error {
			return &CorruptError{Offset: b.offset, Msg: fmt.Sprintf("%s %d: ", what, i) + fmt.Sprintf(format, args...)}
		}
		if b.offset < 8 || b.meta < 8 || b.body < 0 || b.offset > fstart || int64(b.meta) > fstart-b.offset || b.body > fstart-b.offset-int64(b.meta) {
			return bad("block (offset %d, metadata %d, body %d bytes) is outside the file's %d bytes of messages", b.offset, b.meta, b.body, fstart)
		}
		prefix := int64(4)
		switch binary.LittleEndian.Uint32(all[b.offset:]) {
		case 0:
			prefix = 0
		case 0xFFFFFFFF:
			prefix = 8
		}
		typ, _, _, err := verifyMessage(all[b.offset+prefix:b.offset+int64(b.meta)], b.body)
		if err != nil {
			return bad("%v", err)
		}
		if typ != want {
			return bad("message type %d, want %d", typ, want)
		}
		return nil
	}
	if len(dicts) > 0 {
		return &CorruptError{Offset: fstart, Msg: "dictionary batches are not supported (entangle writes no dictionary-encoded columns)"}
	}
	for i, b := range batches {
		if err := check(b, headerRecordBatch, "record batch", i); err != nil {
			return err
		}
	}
	return nil
}

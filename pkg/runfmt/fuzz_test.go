package runfmt

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// These fuzzers mutate the stream after a valid schema message, so that
// they spend their time on the record batches; FuzzOpenAny (hostile_test.go)
// fuzzes whole streams, the schema included. The property: no panic, bounded
// memory (WithMaxBuffer), and whatever steps are accepted re-encode and read
// back to the same rows.

// fuzzMaxBuffer bounds any one allocation of a fuzzed reader (inputs are at
// most 64 KiB, so a legitimate buffer is smaller).
const fuzzMaxBuffer = 1 << 20

func splitSchema(all []byte) (schema, body []byte) {
	// Stream framing: 0xFFFFFFFF, int32 metadata length, metadata (the
	// schema message has no body).
	n := 8 + int(binary.LittleEndian.Uint32(all[4:8]))
	return append([]byte(nil), all[:n]...), all[n:]
}

func seedFuzz(f *testing.F, format string) []byte {
	m := testMeta()
	all, ends := encode(&testing.T{}, format, m, 3, true)
	schema, body := splitSchema(all)
	f.Add(body)
	f.Add(body[:ends[1]-len(schema)])
	f.Add(body[:len(body)/2])
	return schema
}

func FuzzPairReader(f *testing.F) {
	schema := seedFuzz(f, FormatPairs)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		r, err := NewPairReader(bytes.NewReader(append(append([]byte(nil), schema...), body...)), "fuzz", WithMaxBuffer(fuzzMaxBuffer))
		if err != nil {
			t.Fatalf("the schema is valid: %v", err)
		}
		defer r.Release()
		for r.Next() {
			rows := r.Rows()
			var buf bytes.Buffer
			w, err := NewPairWriter(&buf, r.Meta())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			w.Close()
			back, err := NewPairReader(&buf, "again")
			if err != nil {
				t.Fatal(err)
			}
			if !back.Next() {
				t.Fatalf("re-reading: %v", back.Err())
			}
			equalRows(t, 0, back.Rows(), rows)
			back.Release()
		}
	})
}

func FuzzGradReader(f *testing.F) {
	schema := seedFuzz(f, FormatGrads)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		r, err := NewGradReader(bytes.NewReader(append(append([]byte(nil), schema...), body...)), "fuzz", WithMaxBuffer(fuzzMaxBuffer))
		if err != nil {
			t.Fatalf("the schema is valid: %v", err)
		}
		defer r.Release()
		for r.Next() {
			rows := r.Rows()
			var buf bytes.Buffer
			w, err := NewGradWriter(&buf, r.Meta())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			w.Close()
			back, err := NewGradReader(&buf, "again")
			if err != nil {
				t.Fatal(err)
			}
			if !back.Next() {
				t.Fatalf("re-reading: %v", back.Err())
			}
			equalRows(t, 0, back.Rows(), rows)
			back.Release()
		}
	})
}

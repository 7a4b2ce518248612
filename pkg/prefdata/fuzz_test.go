package prefdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
)

// FuzzReadJSONL: no panic; when a record set is accepted, exporting it as
// JSONL and reading it back gives the same pairs (conversational input is
// rendered to text on the first read, so the second read is a fixed point).
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"prompt": "Q?", "chosen": "A", "rejected": "B"}`))
	f.Add([]byte(`{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`))
	f.Add([]byte(`{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}` + "\n\n"))
	f.Add([]byte("{\"prompt\": \"\xff\", \"chosen\": \"b\", \"rejected\": \"c\"}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		pairs, err := ReadJSONL(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		d, err := Import(context.Background(), pairs, byteConfig())
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteJSONL(&out, d); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSONL(&out, "back")
		if err != nil {
			t.Fatalf("re-reading exported JSONL: %v", err)
		}
		if d.Stats.Truncated > 0 {
			return // a cut pair cannot read back the same
		}
		if texts(back) != texts(pairs) {
			t.Fatalf("records changed:\n%q\n->\n%q", texts(pairs), texts(back))
		}
	})
}

// FuzzRead: the Arrow dataset reader never panics or crashes on corrupt
// record batches; what it accepts re-encodes and reads back to the same
// examples. The fuzzer mutates the stream after a valid schema message:
// Arrow v17 sizes its schema structures from the flatbuffer without bounds,
// so a corrupt schema can exhaust memory inside Arrow itself (noted in
// docs/FORMATS.md); everything after the schema is ours to validate.
func FuzzRead(f *testing.F) {
	c := DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 1, 3, 1
	d, _ := Generate(c)
	var s bytes.Buffer
	WriteStream(&s, d)
	all := s.Bytes()
	// Stream framing: 0xFFFFFFFF, int32 metadata length, metadata (the schema
	// message has no body).
	n := 8 + int(binary.LittleEndian.Uint32(all[4:8]))
	schema := append([]byte(nil), all[:n]...)
	f.Add(all[n:])
	f.Add(all[n : n+len(all[n:])/2])
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		got, err := Read(bytes.NewReader(append(append([]byte(nil), schema...), body...)), "fuzz")
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := WriteStream(&again, got); err != nil {
			t.Fatal(err)
		}
		back, err := Read(&again, "again")
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		sameExamples(t, got.Examples, back.Examples)
	})
}

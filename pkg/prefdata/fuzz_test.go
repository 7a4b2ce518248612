package prefdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadJSONL: no panic on any input (JSONL of every record shape, gzip);
// when a record set is accepted, exporting it as JSONL and reading it back
// gives the same pairs (every shape is turned into explicit prompt/chosen/
// rejected strings on the first read, so the second read is a fixed point).
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"prompt": "Q?", "chosen": "A", "rejected": "B"}`))
	f.Add([]byte(`{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`))
	f.Add([]byte(`{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}` + "\n\n"))
	f.Add([]byte("{\"prompt\": \"\xff\", \"chosen\": \"b\", \"rejected\": \"c\"}"))
	// The record shapes of real datasets (see testdata/import).
	f.Add([]byte(`{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go"}`))
	f.Add([]byte(`{"prompt": "q", "chosen": [{"content": "q", "role": "user"}, {"content": "a", "role": "assistant"}], "rejected": [{"content": "q", "role": "user"}, {"content": "b", "role": "assistant"}], "score_chosen": 1.0}`))
	f.Add([]byte(`{"info": {"id": "t", "post": "p", "title": "t", "subreddit": "s"}, "summaries": [{"text": " a", "policy": "x", "note": null}, {"text": " b", "policy": "y", "note": null}], "choice": 1}`))
	f.Add([]byte(`{"chosen": "The sky is blue.", "rejected": "The sky is green."}`))
	f.Add([]byte("\xEF\xBB\xBF{\"prompt\": \"TL;DR\", \"chosen\": \"TL;DR: a\", \"rejected\": \"TL;DR: b\"}"))
	for _, name := range []string{"hh.jsonl.gz", "summarize.jsonl", "implicit.jsonl"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "import", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 || bytes.HasPrefix(in, gzipMagic) && len(in) > 2048 {
			return // bound the time: deflate expands up to about 1000 times
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

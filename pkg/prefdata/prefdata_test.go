package prefdata

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

func gen(t *testing.T, mod func(*GenConfig)) *Dataset {
	t.Helper()
	c := DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 20, 60, 20
	mod(&c)
	d, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkFlags requires the stored flags to equal a fresh comparison of the tokens.
func checkFlags(t *testing.T, e *Example, positional bool) {
	t.Helper()
	fa, fb := AlignFlags(e.Chosen, e.Rejected)
	if positional {
		fa, fb = PositionalFlags(e.Chosen, e.Rejected)
	}
	if !reflect.DeepEqual(fa, e.ChosenContrastive) || !reflect.DeepEqual(fb, e.RejectedContrastive) {
		t.Fatalf("example %d: flags %v/%v, token comparison gives %v/%v", e.ID, e.ChosenContrastive, e.RejectedContrastive, fa, fb)
	}
}

func TestSentimentPresets(t *testing.T) {
	for preset, suffix := range Presets {
		for _, shared := range []string{"random", "fixed"} {
			d := gen(t, func(c *GenConfig) { c.ApplyPreset(preset); c.Shared = shared; c.Prefix = 2 })
			lang, _ := newSynthLang(d.Vocab.Size(), 1)
			var firstSuffix []int32
			for i := range d.Examples {
				e := &d.Examples[i]
				if len(e.Chosen) != 2+1+suffix || len(e.Rejected) != len(e.Chosen) {
					t.Fatalf("%s: response lengths %d/%d, want %d", preset, len(e.Chosen), len(e.Rejected), 3+suffix)
				}
				diff := 0
				for k := range e.Chosen {
					if e.Chosen[k] != e.Rejected[k] {
						diff++
						if k != 2 {
							t.Fatalf("%s: responses differ at %d, not at the label (2)", preset, k)
						}
					}
				}
				if diff != 1 {
					t.Fatalf("%s: responses differ in %d tokens, want exactly 1", preset, diff)
				}
				lab := e.Chosen[2]
				if lab != lang.labelPos && lab != lang.labelNeg {
					t.Fatalf("chosen label %q is not a label word", d.Vocab.String(lab))
				}
				// The chosen label matches the polarity of the review's sentiment words.
				want := lang.labelNeg
				for _, w := range e.Prompt {
					if lang.reward([]int32{w}) > 0 {
						want = lang.labelPos
					}
				}
				if lab != want {
					t.Fatalf("chosen label %q does not match the review %v", d.Vocab.String(lab), e.Prompt)
				}
				checkFlags(t, e, true)
				if e.SharedTokens() != len(e.Chosen)-1 {
					t.Fatalf("shared tokens %d, want %d", e.SharedTokens(), len(e.Chosen)-1)
				}
				if shared == "fixed" {
					if firstSuffix == nil {
						firstSuffix = e.Chosen[3:]
					} else if !reflect.DeepEqual(firstSuffix, e.Chosen[3:]) {
						t.Fatalf("fixed suffix differs between examples")
					}
				}
			}
		}
	}
}

func TestEditDiffersInExactlyK(t *testing.T) {
	for _, k := range []int{1, 3, 12} {
		d := gen(t, func(c *GenConfig) { c.Task = "edit"; c.Edits = k; c.RespLen = 12 })
		for i := range d.Examples {
			e := &d.Examples[i]
			diff := 0
			for p := range e.Chosen {
				if e.Chosen[p] != e.Rejected[p] {
					diff++
				}
			}
			if diff != k {
				t.Fatalf("K=%d: responses differ in %d positions", k, diff)
			}
			checkFlags(t, e, true)
		}
	}
}

func TestDisjointRewardsAndFlags(t *testing.T) {
	d := gen(t, func(c *GenConfig) { c.Task = "disjoint"; c.Jitter = 4 })
	lang, _ := newSynthLang(d.Vocab.Size(), 1)
	lengths := map[int]bool{}
	for i := range d.Examples {
		e := &d.Examples[i]
		if !(e.ChosenReward > e.RejectedReward) {
			t.Fatalf("chosen reward %v not above rejected %v", e.ChosenReward, e.RejectedReward)
		}
		if e.ChosenReward != lang.reward(e.Chosen) || e.RejectedReward != lang.reward(e.Rejected) {
			t.Fatalf("stored rewards differ from the reward function")
		}
		checkFlags(t, e, false)
		lengths[len(e.Chosen)] = true
	}
	if len(lengths) < 3 {
		t.Fatalf("jitter 4 gave only lengths %v", lengths)
	}
}

func TestAlignFlagsHandWorked(t *testing.T) {
	// a = x y z w, b = y q w: LCS = "y w"; x, z contrastive in a; q in b.
	fa, fb := AlignFlags([]int32{1, 2, 3, 4}, []int32{2, 9, 4})
	if !reflect.DeepEqual(fa, []bool{true, false, true, false}) || !reflect.DeepEqual(fb, []bool{false, true, false}) {
		t.Fatalf("AlignFlags = %v %v", fa, fb)
	}
	// kitten/sitting-like: substitute, substitute, insert = 3.
	if d := EditDistance([]int32{1, 2, 3, 3, 4, 5}, []int32{6, 2, 3, 3, 7, 5, 8}); d != 3 {
		t.Fatalf("EditDistance = %d, want 3", d)
	}
}

func TestDeterministicBytes(t *testing.T) {
	for _, task := range Tasks {
		var a, b bytes.Buffer
		c := DefaultGenConfig()
		c.Task, c.NSFT, c.NTrain, c.NTest = task, 5, 2000, 5 // > one record batch
		d1, _ := Generate(c)
		d2, _ := Generate(c)
		if err := WriteStream(&a, d1); err != nil {
			t.Fatal(err)
		}
		WriteStream(&b, d2)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%s: same config gave different bytes", task)
		}
		c.Seed++
		d3, _ := Generate(c)
		if reflect.DeepEqual(d1.Examples, d3.Examples) {
			t.Fatalf("%s: another seed gave the same examples", task)
		}
	}
}

// sameExamples compares examples treating NaN rewards as equal.
func sameExamples(t *testing.T, a, b []Example) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d examples, want %d", len(b), len(a))
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.IsNaN(x.ChosenReward) != math.IsNaN(y.ChosenReward) || math.IsNaN(x.RejectedReward) != math.IsNaN(y.RejectedReward) {
			t.Fatalf("example %d: rewards differ", i)
		}
		x.ChosenReward, x.RejectedReward, y.ChosenReward, y.RejectedReward = 0, 0, 0, 0
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("example %d differs:\n%+v\n%+v", i, x, y)
		}
	}
}

func TestArrowRoundTrip(t *testing.T) {
	for _, task := range Tasks {
		d := gen(t, func(c *GenConfig) { c.Task = task; c.Jitter = 0 })
		var s bytes.Buffer
		if err := WriteStream(&s, d); err != nil {
			t.Fatal(err)
		}
		got, err := Read(&s, "s")
		if err != nil {
			t.Fatal(err)
		}
		sameExamples(t, d.Examples, got.Examples)
		if !reflect.DeepEqual(got.Vocab.Tokens, d.Vocab.Tokens) || got.Config != d.Config || got.Tokenizer != d.Tokenizer {
			t.Fatal("metadata did not round-trip")
		}
		f := &seekBuf{}
		if err := WriteFile(f, d); err != nil {
			t.Fatal(err)
		}
		got, err = Read(bytes.NewReader(f.b), "f")
		if err != nil {
			t.Fatal(err)
		}
		sameExamples(t, d.Examples, got.Examples)
	}
}

// seekBuf is an in-memory io.WriteSeeker.
type seekBuf struct {
	b   []byte
	pos int
}

func (s *seekBuf) Write(p []byte) (int, error) {
	if need := s.pos + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.pos:], p)
	s.pos += len(p)
	return len(p), nil
}

func (s *seekBuf) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		s.pos = int(off)
	case 1:
		s.pos += int(off)
	case 2:
		s.pos = len(s.b) + int(off)
	}
	return int64(s.pos), nil
}

func TestJSONLRoundTrip(t *testing.T) {
	// Arrow -> JSONL -> import -> JSONL: the text is the same, and the word
	// tokenizer rebuilds the same token sequences up to the vocabulary order.
	d := gen(t, func(c *GenConfig) { c.ApplyPreset("short-suffix") })
	var j1 bytes.Buffer
	if err := WriteJSONL(&j1, d); err != nil {
		t.Fatal(err)
	}
	pairs, err := ReadJSONL(bytes.NewReader(j1.Bytes()), "j1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultImportConfig()
	cfg.Vocab, cfg.TestFrac = 1000, 0
	d2, err := Import(context.Background(), pairs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Examples {
		a, b := &d.Examples[i], &d2.Examples[i]
		if Decode(d, a.Chosen) != Decode(d2, b.Chosen) || Decode(d, a.Prompt) != Decode(d2, b.Prompt) || Decode(d, a.Rejected) != Decode(d2, b.Rejected) {
			t.Fatalf("example %d: text changed in the round trip", i)
		}
		if !reflect.DeepEqual(a.ChosenContrastive, b.ChosenContrastive) {
			t.Fatalf("example %d: alignment flags %v differ from construction %v", i, b.ChosenContrastive, a.ChosenContrastive)
		}
	}
	// Byte tokenizer: lossless on arbitrary UTF-8 text.
	raw := []RawPair{{Prompt: "héllo, wörld\n", Chosen: "yes ✓", Rejected: "no ✗"}}
	db, err := Import(context.Background(), raw, byteConfig())
	if err != nil {
		t.Fatal(err)
	}
	var j2 bytes.Buffer
	WriteJSONL(&j2, db)
	back, err := ReadJSONL(&j2, "j2")
	if err != nil || texts(back) != texts(raw) {
		t.Fatalf("byte round trip: %v %q", err, back)
	}
}

func TestReadJSONLForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"prompt\": \"Q?\", \"chosen\": \"A\", \"rejected\": \"B\"}\n\n{\"prompt\": \"R?\", \"chosen\": \"C\", \"rejected\": \"D\"}", "Q?|A|B\nR?|C|D\n"},
		{`{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "go away"}]}`, "user: hi|hello|go away\n"},
		{`{"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "no"}]}`, "user: hi|hello|no\n"},
	} {
		got, err := ReadJSONL(strings.NewReader(tc.in), "x")
		if err != nil {
			t.Fatal(err)
		}
		if texts(got) != tc.want {
			t.Errorf("ReadJSONL(%q) = %q, want %q", tc.in, texts(got), tc.want)
		}
	}
}

func TestReadJSONLErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "x: empty input"},
		{"\n\n", "x: empty input"},
		{`{"prompt": "a", "chosen": "b"}`, `x:1: missing field "rejected"`},
		{"{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{bad", "x:2: bad JSON"},
		{`{"prompt": 3, "chosen": "b", "rejected": "c"}`, `x:1: field "prompt" must be a string`},
		{`{"prompt": "a", "chosen": "", "rejected": "c"}`, `x:1: field "chosen" is empty`},
		{"{\"prompt\": \"a\xff\", \"chosen\": \"b\", \"rejected\": \"c\"}", "x:1: not valid UTF-8"},
		{`[1,2]`, "x:1: bad JSON"},
		{`{"chosen": "b", "rejected": "c"}`, `x:1: no prompt field, and chosen and rejected have no common beginning`},
	} {
		_, err := ReadJSONL(strings.NewReader(tc.in), "x")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ReadJSONL(%q) error = %v, want prefix %q", tc.in, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*GenConfig)
		want string
	}{
		{func(c *GenConfig) { c.Task = "nope" }, "unknown task"},
		{func(c *GenConfig) { c.NTrain = 0 }, "-n must be at least 1"},
		{func(c *GenConfig) { c.Vocab = 10 }, "too small"},
		{func(c *GenConfig) { c.Suffix = 2000 }, "exceed the longest context"},
		{func(c *GenConfig) { c.Task = "edit"; c.Edits = 0 }, "-edits"},
		{func(c *GenConfig) { c.Task = "edit"; c.RespLen = -1 }, "-resp-len"},
		{func(c *GenConfig) { c.Shared = "x" }, "-shared"},
		{func(c *GenConfig) { c.PromptLen = 0 }, "-prompt-len"},
	} {
		c := DefaultGenConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
	var c GenConfig
	if err := c.ApplyPreset("2t"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestReadRejects(t *testing.T) {
	d := gen(t, func(c *GenConfig) {})
	var s bytes.Buffer
	WriteStream(&s, d)
	full := s.Bytes()
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty input"},
		{"text", []byte("hello world, not arrow"), "not an Arrow"},
		{"truncated", full[:len(full)*2/3], "truncated"},
	} {
		_, err := Read(bytes.NewReader(tc.in), "in")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Read error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	got := SplitWords("Hello, world! It's 3pm.")
	want := []string{"Hello", ",", "world", "!", "It's", "3pm", "."}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SplitWords = %q", got)
	}
}

// texts renders pairs as "prompt|chosen|rejected" lines, for comparisons.
func texts(ps []RawPair) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Prompt + "|" + p.Chosen + "|" + p.Rejected + "\n")
	}
	return b.String()
}

// byteConfig is the default import configuration with the byte tokenizer,
// every pair in the train split, and no truncation below the context limit.
func byteConfig() ImportConfig {
	c := DefaultImportConfig()
	c.Tokenizer, c.TestFrac, c.MaxLength, c.MaxPromptLength = TokenizerByte, 0, MaxSeqLen, MaxSeqLen/2
	return c
}

// TestStreamCutAtBatchBoundary: a stream that ends right after a record batch
// (no end-of-stream marker) is refused, not read as a shorter dataset.
func TestStreamCutAtBatchBoundary(t *testing.T) {
	c := DefaultGenConfig()
	c.NSFT, c.NTrain, c.NTest = 0, 3*batchRows, 0
	d, _ := Generate(c)
	var full, first bytes.Buffer
	WriteStream(&full, d)
	part := *d
	part.Examples = d.Examples[:batchRows]
	WriteStream(&first, &part)
	// The one-batch stream less its end marker is the full stream cut after
	// its first batch.
	cut := first.Bytes()[:first.Len()-len(streamEnd)]
	if !bytes.HasPrefix(full.Bytes(), cut) || !bytes.HasSuffix(first.Bytes(), streamEnd) {
		t.Fatal("the streams do not share their first batch, or lack the end marker")
	}
	for _, in := range [][]byte{cut, full.Bytes()[:full.Len()-len(streamEnd)]} {
		_, err := Read(bytes.NewReader(in), "in")
		if err == nil || !strings.Contains(err.Error(), "truncated Arrow stream: no end-of-stream marker") {
			t.Errorf("cut stream of %d bytes: %v", len(in), err)
		}
	}
	if got, err := Read(bytes.NewReader(full.Bytes()), "in"); err != nil || len(got.Examples) != 3*batchRows {
		t.Fatalf("the whole stream: %v", err)
	}
}

func TestDuplicateIDs(t *testing.T) {
	d := gen(t, func(c *GenConfig) {})
	d.Examples[5].ID = d.Examples[2].ID
	var s bytes.Buffer
	WriteStream(&s, d)
	if _, err := Read(&s, "in"); err == nil || err.Error() != "in:record 5: duplicate example id 2 (also record 2)" {
		t.Fatalf("Read = %v", err)
	}
}

// TestMaxSyntheticVocab: the pseudo-words are distinct over their whole
// range, the largest vocabulary is made, and one more is refused (it used to
// loop forever).
func TestMaxSyntheticVocab(t *testing.T) {
	seen := make(map[string]bool, numPseudoWords)
	for i := 0; i < numPseudoWords; i++ {
		w := pseudoWord(i)
		if seen[w] || !isPseudoWord(w) {
			t.Fatalf("pseudoWord(%d) = %q repeats or is malformed", i, w)
		}
		seen[w] = true
	}
	l, err := newSynthLang(MaxSyntheticVocab, 1)
	if err != nil || l.vocab.Size() != MaxSyntheticVocab {
		t.Fatalf("newSynthLang(%d): %v", MaxSyntheticVocab, err)
	}
	if _, err := newSynthLang(MaxSyntheticVocab+1, 1); err == nil {
		t.Fatal("a vocabulary above the maximum was accepted")
	}
	c := DefaultGenConfig()
	c.Vocab = MaxSyntheticVocab + 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Validate: %v", err)
	}
}

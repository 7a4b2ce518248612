package tokenizer

import (
	"strings"
	"testing"

	"entangle/pkg/prefdata"
)

// TestSentimentFixture: testdata/sentiment (gen_sentiment.go) encodes every
// word of prefgen's synthetic language as one token, with and without a
// leading space, decodes it back, has "<|endoftext|>" as GPT-2's eos, and
// still covers any text byte by byte.
func TestSentimentFixture(t *testing.T) {
	tk := load(t, "testdata/sentiment")
	g := prefdata.DefaultGenConfig()
	g.NSFT, g.NTrain, g.NTest = 1, 1, 1
	d, err := prefdata.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range d.Vocab.Tokens {
		if strings.HasPrefix(w, "<") {
			continue
		}
		for _, s := range []string{w, " " + w} {
			ids := tk.Encode(s)
			if len(ids) != 1 || tk.Decode(ids) != s {
				t.Errorf("%q: ids %v (%q), want one token", s, ids, tk.Decode(ids))
			}
			n++
		}
	}
	if n != 252 {
		t.Errorf("%d words checked, want 252", n)
	}
	if eos, ok := tk.EOS(); !ok || tk.TokenText(eos) != "<|endoftext|>" || int(eos) != len(tk.Vocab())-1 {
		t.Errorf("EOS = %d, %v", eos, ok)
	}
	if s := "review Zebra über 123!\n"; tk.Decode(tk.Encode(s)) != s {
		t.Errorf("round trip of %q", s)
	}
}

//go:build ignore

// gen_sentiment writes testdata/sentiment/: a GPT-2-layout byte-level BPE
// (vocab.json + merges.txt, "<|endoftext|>" last, as in GPT-2's own files)
// whose merges spell every word of prefgen's synthetic language (default
// vocabulary, the words the sentiment presets export) as one token, with and
// without a leading space. With it, text exported by prefgen imports with
// about one token per word, as GPT-2's tokenizer gives on those words, and a
// tiny random GPT-2 directory (scripts/torch/hf_gpt2.py, V = its size) runs
// the §4.3 pipeline in seconds. Any text still tokenizes (byte fallback).
//
//	go run gen_sentiment.go
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"entangle/pkg/prefdata"
)

const dir = "testdata/sentiment"

// byteToUnicode is GPT-2's map of bytes to printable runes.
func byteToUnicode() [256]rune {
	var m [256]rune
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

func main() {
	g := prefdata.DefaultGenConfig()
	if err := g.ApplyPreset("long-suffix"); err != nil {
		panic(err)
	}
	g.NSFT, g.NTrain, g.NTest = 1, 1, 1
	d, err := prefdata.Generate(g)
	if err != nil {
		panic(err)
	}
	var words []string
	for _, w := range d.Vocab.Tokens {
		if !strings.HasPrefix(w, "<") {
			words = append(words, w, " "+w)
		}
	}
	bu := byteToUnicode()
	enc := func(s string) []string {
		var out []string
		for _, b := range []byte(s) {
			out = append(out, string(bu[b]))
		}
		return out
	}
	vocab := map[string]int{}
	var order []string
	add := func(t string) {
		if _, ok := vocab[t]; !ok {
			vocab[t] = len(order)
			order = append(order, t)
		}
	}
	for b := range 256 {
		add(string(bu[b]))
	}
	// Merges: until every word is one token, encode each word with the
	// merges so far (GPT-2's rule: the adjacent pair of lowest rank merges
	// first) and append a merge of its first two tokens. An appended merge
	// ranks after every earlier one, so it never splits a finished word.
	type merge struct{ a, b string }
	rank := map[merge]int{}
	var merges []merge
	bpe := func(w string) []string {
		sym := enc(w)
		for len(sym) > 1 {
			best, at := -1, -1
			for i := 0; i+1 < len(sym); i++ {
				if r, ok := rank[merge{sym[i], sym[i+1]}]; ok && (best < 0 || r < best) {
					best, at = r, i
				}
			}
			if at < 0 {
				break
			}
			m := merges[best]
			var out []string
			for i := 0; i < len(sym); i++ {
				if i+1 < len(sym) && sym[i] == m.a && sym[i+1] == m.b {
					out = append(out, m.a+m.b)
					i++
				} else {
					out = append(out, sym[i])
				}
			}
			sym = out
		}
		return sym
	}
	for changed := true; changed; {
		changed = false
		for _, w := range words {
			if t := bpe(w); len(t) > 1 {
				m := merge{t[0], t[1]}
				rank[m] = len(merges)
				merges = append(merges, m)
				add(m.a + m.b)
				changed = true
			}
		}
	}
	add("<|endoftext|>")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	var vb strings.Builder
	vb.WriteString("{")
	for i, t := range order {
		if i > 0 {
			vb.WriteString(", ")
		}
		k, _ := json.Marshal(t)
		fmt.Fprintf(&vb, "%s: %d", k, i)
	}
	vb.WriteString("}")
	var mb strings.Builder
	mb.WriteString("#version: 0.2\n")
	for _, m := range merges {
		fmt.Fprintf(&mb, "%s %s\n", m.a, m.b)
	}
	for name, body := range map[string]string{"vocab.json": vb.String(), "merges.txt": mb.String(),
		"tokenizer_config.json": "{\"model_max_length\": 1024}\n"} {
		if err := os.WriteFile(dir+"/"+name, []byte(body), 0o644); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%s: %d tokens, %d merges, %d words\n", dir, len(order), len(merges), len(words)/2)
}

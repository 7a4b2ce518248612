//go:build ignore

// gen_corpus writes testdata/corpus.jsonl, the strings on which the
// tokenizers are compared with their references (reference_test.go): the
// hand-written cases below, then random strings built from atoms of many
// scripts and tricky characters (seeded, so the file is reproducible).
// One JSON string per line.
//
//	go run gen_corpus.go
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

const (
	seed    = 20261205
	nRandom = 4000
	out     = "testdata/corpus.jsonl"
)

// hand are the hand-written cases.
var hand = []string{
	"", " ", "  ", "a", "The dog", "The president", "Hello world", "Hello, world!",
	"\n\nHuman: What is the capital of France?\n\nAssistant: Paris.",
	"\n\nHuman: hi\n\nAssistant:", "\n\nHuman: Can you help me?\n\nAssistant: Sure! What do you need?\n\nHuman: thanks\n\nAssistant:",
	"SUBREDDIT: r/relationships\nTITLE: Help!\nPOST: I (24F) and my bf (25M)...\nTL;DR:",
	// contractions
	"I'm", "you're", "we've", "she'll", "he'd", "it's", "don't", "I'M", "YOU'RE", "WE'VE", "SHE'LL", "HE'D", "IT'S", "DON'T",
	"'s", "'S", "'t", "'T", "'re", "'Re", "'rE", "'RE", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'Ll", "'d", "'D",
	"it’s", "don’t", "‘quoted’", "“double”", "x'ſ", "'ſ", "'ſa", "''s", "'''", "' s", "a's b'S c'll D'LL", "'x", "?'s", "rock'n'roll",
	"'sam", "'llama", "O'Reilly", "y'all", "'\n's", "'1", "'é",
	// numbers
	"1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890", "3.14159", "1,000,000", "-42", "+7", "0x1F",
	"2026-12-06", "12:34:56", "1e-10", "½", "²³", "Ⅻ", "٣٤٥", "१२३", "１２３", "① ② ③", "a1b2c3", "abc123def", " 123", "  123", "x 1 2 3",
	// white space
	"\t", "\t\t", " \t", "\t ", "a\tb", "a \tb", "\r\n", "a\r\nb", "a\r\n\r\nb", "\r", "\n", "\n\n\n", "a\n", "a\n\n", "a \n b", "a  \n  b",
	"\u0085", "a\u0085b", "a \u0085 b", "\u00a0", "a\u00a0b", "a \u00a0b", "\u00a0\u00a0a", "\u2028", "a\u2028b", "\u2029", "\u3000", "a\u3000b",
	"\u3000\u3000a", "\ufeff", "\ufeffa", "a\ufeffb", "a \ufeff b", "\u200b", "a\u200bb", "\u1680", "\u2000\u2001\u2002\u200a", "\u202f", "\u205f",
	"\u000b", "\u000c", "a\u000bb\u000cc", "\u001c\u001d\u001e\u001f", "\u007f", "a\u007fb", "\u0000", "a\u0000b", "\u0080\u0081\u009f",
	"\u00ad", "soft\u00adhyphen", "\u180e", "\ufeff\ufeff", "  a", "   a", "a  ", "a   ", " a ", "  \n  ", " \n", "\n ", "\t\n", "\n\t",
	// unicode
	"café", "cafe\u0301", "naïve", "e\u0301\u0301\u0301", "\u0301", "a\u0301b", "Ångström", "日本語のテキスト", "你好，世界！", "한국어 텍스트",
	"Россия", "Ελληνικά", "مرحبا بالعالم", "שלום", "हिन्दी", "ไทย", "ᏣᎳᎩ", "𝐀𝐁𝐂", "𐌰𐌱", "𠀀𠀁", "ǅ", "ß", "ẞ", "İstanbul", "ﬁ", "Ǆ",
	// emoji
	"😀", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸", "🇫🇷🇩🇪", "❤️", "1️⃣", "🏳️‍🌈", "👩🏿‍💻", "a😀b", " 😀", "😀😀😀", "☺", "✓ ✗",
	// special token text inside ordinary text
	"<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext", "<|begin_of_text|>Hello", "<|eot_id|>",
	"<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "<|im_start|>user\nhi<|im_end|>\n", "<|reserved_special_token_0|>", "<s></s>",
	// code and URLs
	"func main() {\n\tfmt.Println(\"hi\")\n}\n", "def f(x):\n    return x ** 2\n", "if (a && b) { return a->c; }", "    indented\n        more",
	"https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Users\\name\\file.txt", "<div class=\"x\">text</div>", "{\"key\": [1, 2.5, null]}",
	"#!/bin/bash\necho $HOME", "a = b + c * (d - e) / f;", "i++; j--; k **= 2", "```go\nx := 1\n```", "$$\\frac{a}{b}$$",
	// punctuation
	"...", "!!!", "?!?", "---", "—", "…", "«»", "(parens)", "[brackets]", "a.b.c", "a,b;c:d", "-->", "<!--", "@#$%^&*", "~`", "\"quoted\"",
	// long repetitions
	strings.Repeat(" ", 10000), strings.Repeat("a", 5000), strings.Repeat("\n", 1000), strings.Repeat("ab", 2000), strings.Repeat("1", 1000),
	strings.Repeat("!", 500), strings.Repeat("😀", 300), strings.Repeat(" \t", 400), strings.Repeat("é", 700), strings.Repeat("日", 800),
	"a" + strings.Repeat(" ", 300) + "b", strings.Repeat("\r\n", 300), strings.Repeat("'s", 300), strings.Repeat("Human: ", 200),
}

// atoms are drawn to build the random strings.
var atoms = [][]string{
	{"the", "The", "dog", "president", "of", "and", "tokenizer", "Hello", "world", "HUMAN", "Assistant", "a", "I", "x", "qwerty", "naïve", "über"},
	{"'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "’s", "’", "‘", "'", "\"", "'ſ", "ſ"},
	{"0", "7", "42", "123", "1234", "98765", "3.14", "1,000", "2026", "٣", "१२", "１２", "½", "²", "Ⅷ", "①"},
	{" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u0085", "\u00a0", "\u2028", "\u2029", "\u3000", "\ufeff", "\u200b",
		"\u1680", "\u2003", "\u202f", "\u205f", "\u000b", "\u000c", "\u001f", "\u007f", "\u00ad", "\u180e", " \n", "\n ", "\t\t"},
	{".", ",", "!", "?", ";", ":", "-", "—", "…", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "|", "@", "#", "$", "%", "^", "&", "*",
		"_", "+", "=", "~", "`", "«", "»", "¿", "¡", "§", "©", "®", "°", "€", "£", "¥", "→", "∑", "√", "∞"},
	{"😀", "👍", "👍🏽", "🏽", "👨‍👩‍👧", "\u200d", "🇺🇸", "❤️", "\ufe0f", "1️⃣", "\u20e3", "🎉", "🤖", "🙏🏾"},
	{"<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|im_start|>", "<|im_end|>", "<|", "|>"},
	{"\n\nHuman:", "\n\nAssistant:", " Human", "TL;DR:", "http://", "https://a.b/c?d=e", "www.", ".com", "func", "return", "==", "!=", "->", "=>", "::", "//", "/*", "*/"},
}

// ranges are code point ranges from which random letters, marks and
// symbols are drawn (all assigned before Unicode 13).
var ranges = [][2]rune{
	{'a', 'z'}, {'A', 'Z'}, {0xC0, 0xFF}, {0x100, 0x17F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x5D0, 0x5EA}, {0x620, 0x64A},
	{0x64B, 0x652}, {0x660, 0x669}, {0x900, 0x939}, {0x93E, 0x94D}, {0x966, 0x96F}, {0xE01, 0xE30}, {0xE31, 0xE3A},
	{0x1100, 0x1112}, {0x300, 0x36F}, {0x2000, 0x206F}, {0x2190, 0x21FF}, {0x2200, 0x22FF}, {0x3041, 0x3096}, {0x30A1, 0x30FA},
	{0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}, {0xFF01, 0xFF5E}, {0x1D400, 0x1D44F}, {0x1F600, 0x1F64F}, {0x1F300, 0x1F5FF},
	{0x20000, 0x2A6D6}, {0x10330, 0x1034A}, {0x0080, 0x00BF}, {0x2460, 0x24FF}, {0x2150, 0x218B}, {0xFE00, 0xFE0F},
}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	n := 1 + r.IntN(30)
	for i := 0; i < n; i++ {
		switch k := r.IntN(12); {
		case k < 8:
			set := atoms[k]
			b.WriteString(set[r.IntN(len(set))])
		case k < 10:
			rg := ranges[r.IntN(len(ranges))]
			for m := 1 + r.IntN(4); m > 0; m-- {
				b.WriteRune(rg[0] + rune(r.IntN(int(rg[1]-rg[0]+1))))
			}
		case k < 11:
			b.WriteString(strings.Repeat(atoms[3][r.IntN(len(atoms[3]))], 1+r.IntN(6)))
		default:
			b.WriteString(strings.Repeat(atoms[2][r.IntN(len(atoms[2]))], 1+r.IntN(4)))
		}
		if r.IntN(3) == 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func main() {
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen_corpus:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	r := rand.New(rand.NewPCG(seed, seed))
	all := append([]string(nil), hand...)
	for i := 0; i < nRandom; i++ {
		all = append(all, randomString(r))
	}
	for _, s := range all {
		if err := enc.Encode(s); err != nil {
			fmt.Fprintln(os.Stderr, "gen_corpus:", err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen_corpus:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gen_corpus:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen_corpus: %d strings (%d hand-written) in %s\n", len(all), len(hand), out)
}

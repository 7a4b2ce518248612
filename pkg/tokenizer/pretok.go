package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of the split patterns: \p{L}, \p{N}, \s (Unicode
// White_Space, which is what unicode.IsSpace tests and what the reference
// regex engines mean by \s), and everything else. An invalid UTF-8 byte is
// one rune of class other.
const (
	clsOther uint8 = iota
	clsLetter
	clsNumber
	clsSpace
)

// asciiClass is the class of each ASCII byte.
var asciiClass [128]uint8

func init() {
	for b := 0; b < 128; b++ {
		asciiClass[b] = classOf(rune(b))
	}
}

func classOf(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// class returns the class and width of the rune at the start of s (s must
// not be empty).
func class(s string) (uint8, rune, int) {
	if c := s[0]; c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, w := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && w == 1 {
		return clsOther, r, 1
	}
	return classOf(r), r, w
}

// run returns the length in bytes of the longest prefix of s whose runes all
// have class c.
func run(s string, c uint8) int {
	i := 0
	for i < len(s) {
		ci, _, w := class(s[i:])
		if ci != c {
			break
		}
		i += w
	}
	return i
}

// lastRuneStart returns the byte offset of the last rune of s (s not empty).
func lastRuneStart(s string) int {
	_, w := utf8.DecodeLastRuneInString(s)
	return len(s) - w
}

// spaceRun is the shared tail of both patterns for a whitespace run of n
// bytes at the start of s: `\s+(?!\S)|\s+` takes the whole run at the end of
// the text, else the run without its last rune (which then leads the next
// piece), else (a run of one rune) that rune.
func spaceRun(s string, n int) int {
	if n == len(s) {
		return n
	}
	if last := lastRuneStart(s[:n]); last > 0 {
		return last
	}
	return n
}

// gpt2Next returns the length of the first piece of s (not empty) under
// GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// The alternatives are tried in order at the start of s, as a backtracking
// regex engine does.
func gpt2Next(s string) int {
	if s[0] == '\'' && len(s) > 1 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(s) > 2 && s[2] == 'e' {
				return 3
			}
		case 'l':
			if len(s) > 2 && s[2] == 'l' {
				return 3
			}
		}
	}
	c0, _, _ := class(s)
	if c0 != clsSpace {
		return run(s, c0)
	}
	if s[0] == ' ' && len(s) > 1 {
		if c1, _, _ := class(s[1:]); c1 != clsSpace {
			return 1 + run(s[1:], c1)
		}
	}
	return spaceRun(s, run(s, clsSpace))
}

// contractionFold returns the length of a contraction suffix (s, t, re, ve,
// m, ll, d in any case) at the start of s, or 0. Under case-insensitive
// matching 's' also matches U+017F (ſ, LATIN SMALL LETTER LONG S), whose
// simple case folding is 's'; no other rune folds to these letters.
func contractionFold(s string) int {
	if len(s) == 0 {
		return 0
	}
	lower := func(i int) byte {
		if i >= len(s) {
			return 0
		}
		return s[i] | 0x20
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	if len(s) >= 2 && s[0] == 0xC5 && s[1] == 0xBF { // U+017F
		return 2
	}
	return 0
}

// llama3Next returns the length of the first piece of s (not empty) under
// Llama-3's pattern (maxDigits 3; Qwen2's is the same with \p{N} for
// \p{N}{1,3}, maxDigits 1)
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func llama3Next(s string, maxDigits int) int {
	if s[0] == '\'' {
		if n := contractionFold(s[1:]); n > 0 {
			return 1 + n
		}
	}
	c0, r0, w0 := class(s)
	switch c0 {
	case clsLetter:
		return run(s, clsLetter)
	case clsNumber:
		i := w0
		for k := 1; k < maxDigits && i < len(s); k++ {
			c, _, w := class(s[i:])
			if c != clsNumber {
				break
			}
			i += w
		}
		return i
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+ with the optional rune present.
	if r0 != '\r' && r0 != '\n' && w0 < len(s) {
		if c1, _, _ := class(s[w0:]); c1 == clsLetter {
			return w0 + run(s[w0:], clsLetter)
		}
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	i := -1
	if c0 == clsOther {
		i = 0
	} else if s[0] == ' ' && len(s) > 1 {
		if c1, _, _ := class(s[1:]); c1 == clsOther {
			i = 1
		}
	}
	if i >= 0 {
		j := i + run(s[i:], clsOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// c0 is white space. `\s*[\r\n]+`: the run up to its last CR or LF.
	n := run(s, clsSpace)
	for k := n - 1; k >= 0; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	return spaceRun(s, n)
}

// digitsNext returns the length of the first piece of s (not empty) under
// the Digits pre-tokenizer: one \p{N} rune (individual) or a run of them is
// a piece of its own, and the text between them is another.
func digitsNext(s string, individual bool) int {
	c0, _, w0 := class(s)
	if c0 == clsNumber {
		if individual {
			return w0
		}
		return run(s, clsNumber)
	}
	i := w0
	for i < len(s) {
		c, _, w := class(s[i:])
		if c == clsNumber {
			break
		}
		i += w
	}
	return i
}

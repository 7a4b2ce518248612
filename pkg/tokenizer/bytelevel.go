package tokenizer

import (
	"strconv"
	"unicode/utf8"
)

// byteRune is GPT-2's byte-to-unicode map: the printable bytes '!'..'~',
// '¡'..'¬' and '®'..'ÿ' stand for themselves, and the other 68 bytes (the
// controls, space, DEL, the C1 block, NBSP and the soft hyphen) take the
// runes U+0100, U+0101, … in byte order. Every byte-level token is a string
// of these runes, so a vocabulary is valid UTF-8 whatever bytes its tokens
// hold: byte 0x20 (space) is 'Ġ' (U+0120), 0x0A (newline) is 'Ċ' (U+010A).
var byteRune [256]rune

// runeByte inverts byteRune: runeByte[r] is the byte of rune r + 1, or 0
// when r is not a byte-level rune. Byte-level runes are all below U+0144.
var runeByte [0x144]uint16

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = rune(256 + n)
			n++
		}
		runeByte[byteRune[b]] = uint16(b) + 1
	}
}

// byteLevel returns the byte-level form of raw bytes b: one rune of byteRune
// per byte.
func byteLevel(b string) string {
	out := make([]byte, 0, 2*len(b))
	for i := 0; i < len(b); i++ {
		out = utf8.AppendRune(out, byteRune[b[i]])
	}
	return string(out)
}

// rawBytes returns the bytes a byte-level token string stands for, and false
// when tok holds a rune outside the byte-level alphabet.
func rawBytes(tok string) ([]byte, bool) {
	out := make([]byte, 0, len(tok))
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] == 0 {
			return nil, false
		}
		out = append(out, byte(runeByte[r]-1))
	}
	return out, true
}

// readable returns b as text: valid UTF-8 as is, each invalid byte as \xNN.
func readable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, `\x`...)
			out = strconv.AppendUint(out[:len(out)], uint64(b[0])>>4, 16)
			out = strconv.AppendUint(out, uint64(b[0])&15, 16)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

package model

import (
	"errors"
	"fmt"
	"strconv"
)

// Dimension legend used in every shape comment of this package:
//
//	V  = vocabulary size
//	T  = sequence length (the context Cfg.T for buffers, n ≤ T for one sequence)
//	C  = channels (model width)
//	L  = number of transformer blocks
//	H  = number of attention heads
//	hs = head size, C/H
//	R  = number of response tokens of one sequence, n - respStart

// Float is the element type of every kernel: the model runs in float32, the
// gradient checks in float64.
type Float interface{ ~float32 | ~float64 }

// Config is the architecture of a GPT-2-style model.
type Config struct {
	V    int  `json:"vocab_size"` // vocabulary size
	T    int  `json:"context"`    // maximum sequence length (prompt + response)
	C    int  `json:"width"`      // channels
	L    int  `json:"layers"`     // transformer blocks
	H    int  `json:"heads"`      // attention heads; C % H == 0
	Tied bool `json:"tied"`       // the LM head is wte (no lm_head.w tensor)
}

// Size bounds of a Config. They are far beyond any model this package can
// train, and keep every size computed from a Config (parameter counts,
// buffer lengths) within an int64, so a corrupt config fails Validate instead
// of overflowing or panicking in an allocation.
const (
	MaxVocab   = 1 << 24 // V
	MaxContext = 1 << 20 // T
	MaxWidth   = 1 << 17 // C (and H)
	MaxLayers  = 1 << 12 // L
)

// Validate reports whether every dimension is positive and within its bound
// (MaxVocab, …) and C is divisible by H.
func (c Config) Validate() error {
	switch {
	case c.V > MaxVocab:
		return fmt.Errorf("model: vocab_size must be at most %d, got=%d", MaxVocab, c.V)
	case c.T > MaxContext:
		return fmt.Errorf("model: context must be at most %d, got=%d", MaxContext, c.T)
	case c.C > MaxWidth:
		return fmt.Errorf("model: width must be at most %d, got=%d", MaxWidth, c.C)
	case c.L > MaxLayers:
		return fmt.Errorf("model: layers must be at most %d, got=%d", MaxLayers, c.L)
	case c.V < 1:
		return fmt.Errorf("model: vocab_size must be positive, got=%d", c.V)
	case c.T < 2:
		return fmt.Errorf("model: context must be at least 2, got=%d", c.T)
	case c.C < 1:
		return fmt.Errorf("model: width must be positive, got=%d", c.C)
	case c.L < 1:
		return fmt.Errorf("model: layers must be positive, got=%d", c.L)
	case c.H < 1:
		return fmt.Errorf("model: heads must be positive, got=%d", c.H)
	case c.C%c.H != 0:
		return fmt.Errorf("model: width must be divisible by heads, got width=%d heads=%d", c.C, c.H)
	}
	return nil
}

// Preset returns a named configuration:
//
//	tiny  V 64,  T 32,  C 16,  L 2, H 2, tied
//	S     V 256, T 64,  C 128, L 2, H 4, tied
//	M     V 512, T 128, C 256, L 4, H 8, tied
func Preset(name string) (Config, error) {
	switch name {
	case "tiny":
		return Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}, nil
	case "S":
		return Config{V: 256, T: 64, C: 128, L: 2, H: 4, Tied: true}, nil
	case "M":
		return Config{V: 512, T: 128, C: 256, L: 4, H: 8, Tied: true}, nil
	}
	return Config{}, errors.New("model: unknown preset " + strconv.Quote(name) + ", want tiny, S or M")
}

// Tensor names one parameter group: Size elements at Offset in the flat
// parameter buffer, viewed with the row-major Shape.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int
	Size   int
}

// Tensors returns the table of parameter tensors in buffer order:
//
//	wte (V,C); wpe (T,C);
//	for l = 0..L-1: h.l.ln1.w (C), h.l.ln1.b (C), h.l.attn.qkv.w (3C,C), h.l.attn.qkv.b (3C),
//	  h.l.attn.proj.w (C,C), h.l.attn.proj.b (C), h.l.ln2.w (C), h.l.ln2.b (C),
//	  h.l.mlp.fc.w (4C,C), h.l.mlp.fc.b (4C), h.l.mlp.proj.w (C,4C), h.l.mlp.proj.b (C);
//	lnf.w (C), lnf.b (C); lm_head.w (V,C) only when !Tied.
//
// The qkv rows are [q; k; v]; head h uses rows h*hs..(h+1)*hs of each third.
// It panics if cfg is invalid.
func Tensors(cfg Config) []Tensor {
	if err := cfg.Validate(); err != nil {
		panic("model: invalid config")
	}
	V, T, C := cfg.V, cfg.T, cfg.C
	var ts []Tensor
	off := 0
	add := func(name string, shape ...int) {
		size := 1
		for _, d := range shape {
			size *= d
		}
		ts = append(ts, Tensor{Name: name, Shape: shape, Offset: off, Size: size})
		off += size
	}
	add("wte", V, C)
	add("wpe", T, C)
	for l := 0; l < cfg.L; l++ {
		p := "h." + strconv.Itoa(l) + "."
		add(p+"ln1.w", C)
		add(p+"ln1.b", C)
		add(p+"attn.qkv.w", 3*C, C)
		add(p+"attn.qkv.b", 3*C)
		add(p+"attn.proj.w", C, C)
		add(p+"attn.proj.b", C)
		add(p+"ln2.w", C)
		add(p+"ln2.b", C)
		add(p+"mlp.fc.w", 4*C, C)
		add(p+"mlp.fc.b", 4*C)
		add(p+"mlp.proj.w", C, 4*C)
		add(p+"mlp.proj.b", C)
	}
	add("lnf.w", C)
	add("lnf.b", C)
	if !cfg.Tied {
		add("lm_head.w", V, C)
	}
	return ts
}

// NumParams returns the number of scalar parameters of cfg.
func NumParams(cfg Config) int {
	ts := Tensors(cfg)
	last := ts[len(ts)-1]
	return last.Offset + last.Size
}

// ViewOf returns the sub-slice of buf (a parameter, gradient or moment buffer
// with the layout of Tensors(cfg)) that holds the tensor called name.
// It panics if the name is unknown or buf has the wrong length.
func ViewOf[F Float](buf []F, cfg Config, name string) []F {
	if len(buf) != NumParams(cfg) {
		panic("model: buffer length does not match the config")
	}
	for _, t := range Tensors(cfg) {
		if t.Name == name {
			return buf[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
		}
	}
	panic("model: unknown tensor name")
}

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
//	KV = key/value heads (grouped-query attention), H % KV == 0; KV = H for GPT-2
//	Q3 = width of a fused qkv row, (H + 2·KV)·hs; 3C when KV = H
//	F  = MLP hidden width (4C for GPT-2)
//	R  = number of response tokens of one sequence, n - respStart

// Float is the element type of every kernel: the model runs in float32, the
// gradient checks in float64.
type Float interface{ ~float32 | ~float64 }

// Config is the architecture of a decoder-only model. The zero values of the
// fields after Tied are GPT-2's; Arch selects another block kind (see Block),
// and the other fields are that kind's settings.
type Config struct {
	V    int  `json:"vocab_size"` // vocabulary size
	T    int  `json:"context"`    // maximum sequence length (prompt + response)
	C    int  `json:"width"`      // channels
	L    int  `json:"layers"`     // transformer blocks
	H    int  `json:"heads"`      // attention heads; C % H == 0
	Tied bool `json:"tied"`       // the LM head is wte (no lm_head.w tensor)

	Arch string  `json:"arch,omitempty"`      // block kind: "" (GPT-2), ArchNeoX or ArchLlama
	KV   int     `json:"kv_heads,omitempty"`  // key/value heads, H % KV == 0; 0 means H (llama only)
	FF   int     `json:"mlp_width,omitempty"` // MLP hidden width F; 0 means 4C (neox, llama)
	Eps  float64 `json:"norm_eps,omitempty"`  // LayerNorm/RMSNorm epsilon; 0 means 1e-5 (neox, llama)

	Rotary    int     `json:"rotary_dims,omitempty"` // rotated dims of each head, even, ≤ hs; 0 means hs (neox, llama)
	RopeTheta float64 `json:"rope_theta,omitempty"`  // rotary base; 0 means 10000 (neox, llama)
	// Llama-3 frequency scaling (rope_scaling.rope_type "llama3"), off when
	// RopeFactor is 0: see ropeInvFreq.
	RopeFactor   float64 `json:"rope_factor,omitempty"`
	RopeLowFreq  float64 `json:"rope_low_freq_factor,omitempty"`
	RopeHighFreq float64 `json:"rope_high_freq_factor,omitempty"`
	RopeOrigCtx  int     `json:"rope_original_context,omitempty"`

	Sequential bool `json:"sequential,omitempty"` // neox: x += attn(ln1 x), then x += mlp(ln2 x), instead of the parallel form
	QKVBias    bool `json:"qkv_bias,omitempty"`   // llama: q, k, v biases (Qwen2; attention_bias)
	ProjBias   bool `json:"proj_bias,omitempty"`  // llama: o_proj bias (attention_bias)
	MLPBias    bool `json:"mlp_bias,omitempty"`   // llama: gate, up, down biases (mlp_bias)
}

// Block kinds (Config.Arch).
const (
	ArchGPT2  = ""      // GPT-2
	ArchNeoX  = "neox"  // GPT-NeoX (Pythia)
	ArchLlama = "llama" // Llama, Mistral, SmolLM2, Qwen2
)

// NormKind, PosKind and MLPKind name the choices of a Block.
type (
	NormKind int
	PosKind  int
	MLPKind  int
)

const (
	LayerNorm NormKind = iota // (x - mean)·rstd·w + b
	RMSNorm                   // x·rsqrt(mean(x²) + eps)·w
)

const (
	Learned PosKind = iota // x = wte[token] + wpe[t]
	Rotary                 // x = wte[token]; q, k rotated by position (RoPE)
)

const (
	GELUTanh MLPKind = iota // proj(gelu_tanh(fc x))
	GELUErf                 // proj(gelu(fc x)), the exact erf GELU
	SwiGLU                  // down(silu(gate x)·up x): fc holds [gate; up]
)

// Block is what every transformer block of a model computes, chosen once
// from the Config: the forward and backward passes read it and nothing else
// about the family. The table of families (Config.Block):
//
//	Arch   Norm       Pos      MLP       residual                        biases
//	""     LayerNorm  Learned  GELUTanh  x += attn(ln1 x); x += mlp(ln2 x)  all
//	neox   LayerNorm  Rotary   GELUErf   x + attn(ln1 x) + mlp(ln2 x)       all
//	                                     (Sequential: the GPT-2 form)
//	llama  RMSNorm    Rotary   SwiGLU    x += attn(ln1 x); x += mlp(ln2 x)  QKVBias, ProjBias, MLPBias
type Block struct {
	Norm     NormKind
	Pos      PosKind
	MLP      MLPKind
	Parallel bool // x + attn(ln1 x) + mlp(ln2 x): ln2 reads the block input, not x + attn
	QKVBias  bool // attn.qkv.b
	ProjBias bool // attn.proj.b
	MLPBias  bool // mlp.fc.b, mlp.proj.b
}

// Block returns the block description of c (see Block for the table).
func (c Config) Block() Block {
	switch c.Arch {
	case ArchNeoX:
		return Block{Norm: LayerNorm, Pos: Rotary, MLP: GELUErf, Parallel: !c.Sequential, QKVBias: true, ProjBias: true, MLPBias: true}
	case ArchLlama:
		return Block{Norm: RMSNorm, Pos: Rotary, MLP: SwiGLU, QKVBias: c.QKVBias, ProjBias: c.ProjBias, MLPBias: c.MLPBias}
	}
	return Block{Norm: LayerNorm, Pos: Learned, MLP: GELUTanh, QKVBias: true, ProjBias: true, MLPBias: true}
}

// KVHeads returns the number of key/value heads (H unless set).
func (c Config) KVHeads() int {
	if c.KV == 0 {
		return c.H
	}
	return c.KV
}

// MLPWidth returns F, the MLP hidden width (4C unless set).
func (c Config) MLPWidth() int {
	if c.FF == 0 {
		return 4 * c.C
	}
	return c.FF
}

// NormEps returns the normalization epsilon (1e-5 unless set).
func (c Config) NormEps() float64 {
	if c.Eps == 0 {
		return lnEps
	}
	return c.Eps
}

// RotaryDims returns the rotated dims of each head (hs unless set; 0 for
// learned positions).
func (c Config) RotaryDims() int {
	if c.Block().Pos != Rotary {
		return 0
	}
	if c.Rotary == 0 {
		return c.C / c.H
	}
	return c.Rotary
}

// RopeBase returns the rotary base θ (10000 unless set).
func (c Config) RopeBase() float64 {
	if c.RopeTheta == 0 {
		return 10000
	}
	return c.RopeTheta
}

// qkvWidth is Q3, the width of a fused qkv row: (H + 2·KV)·hs.
func (c Config) qkvWidth() int { return (c.H + 2*c.KVHeads()) * (c.C / c.H) }

// fcWidth is the output width of mlp.fc: F, or 2F for SwiGLU's [gate; up].
func (c Config) fcWidth() int {
	if c.Block().MLP == SwiGLU {
		return 2 * c.MLPWidth()
	}
	return c.MLPWidth()
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
	return c.validateBlock()
}

// validateBlock checks the block settings after Tied against Arch.
func (c Config) validateBlock() error {
	hs := c.C / c.H
	switch c.Arch {
	case ArchGPT2:
		if c != (Config{V: c.V, T: c.T, C: c.C, L: c.L, H: c.H, Tied: c.Tied}) {
			return errors.New("model: a GPT-2 config (no arch) has no block settings beyond vocab_size, context, width, layers, heads, tied")
		}
		return nil
	case ArchNeoX, ArchLlama:
	default:
		return fmt.Errorf("model: arch %q is not one of \"\", %q, %q", c.Arch, ArchNeoX, ArchLlama)
	}
	switch {
	case c.KV < 0 || c.KV > c.H || (c.KV > 0 && c.H%c.KV != 0):
		return fmt.Errorf("model: kv_heads must divide heads, got kv_heads=%d heads=%d", c.KV, c.H)
	case c.Arch == ArchNeoX && c.KV != 0 && c.KV != c.H:
		return fmt.Errorf("model: neox has no grouped-query attention, got kv_heads=%d heads=%d", c.KV, c.H)
	case c.FF < 0 || c.FF > 16*MaxWidth:
		return fmt.Errorf("model: mlp_width must be in [1, %d], got=%d", 16*MaxWidth, c.FF)
	case !(c.Eps >= 0 && c.Eps < 1):
		return fmt.Errorf("model: norm_eps must be in [0, 1), got=%g", c.Eps)
	case c.Rotary < 0 || c.Rotary > hs || c.RotaryDims()%2 != 0:
		return fmt.Errorf("model: rotary_dims (the head size %d when 0) must be even and at most the head size, got=%d", hs, c.Rotary)
	case !(c.RopeTheta >= 0 && c.RopeTheta < 1e12):
		return fmt.Errorf("model: rope_theta must be in [0, 1e12), got=%g", c.RopeTheta)
	case c.Arch == ArchNeoX && (c.QKVBias || c.ProjBias || c.MLPBias):
		return errors.New("model: neox always has every bias; qkv_bias, proj_bias, mlp_bias are llama settings")
	case c.Arch == ArchLlama && c.Sequential:
		return errors.New("model: sequential is a neox setting")
	}
	if c.RopeFactor != 0 || c.RopeLowFreq != 0 || c.RopeHighFreq != 0 || c.RopeOrigCtx != 0 {
		if !(c.RopeFactor >= 1 && c.RopeFactor < 1e6) || !(c.RopeLowFreq > 0) || !(c.RopeHighFreq > c.RopeLowFreq) ||
			c.RopeHighFreq > 1e6 || c.RopeOrigCtx < 1 || c.RopeOrigCtx > MaxContext {
			return fmt.Errorf("model: llama3 rope scaling needs factor ≥ 1, 0 < low_freq_factor < high_freq_factor and an original context in [1, %d], got %g, %g, %g, %d",
				MaxContext, c.RopeFactor, c.RopeLowFreq, c.RopeHighFreq, c.RopeOrigCtx)
		}
	}
	return nil
}

// Preset returns a named configuration:
//
//	tiny          V 64,    T 32,   C 16,  L 2,  H 2, tied
//	S             V 256,   T 64,   C 128, L 2,  H 4, tied
//	M             V 512,   T 128,  C 256, L 4,  H 8, tied
//	pythia-160m   V 50304, T 1024, C 768, L 12, H 12, neox, rotary 16 of 64, untied
//	smollm2-135m  V 49152, T 1024, C 576, L 30, H 9, KV 3, llama, F 1536, θ 100000, tied
//
// The last two are the shapes of EleutherAI/pythia-160m and
// HuggingFaceTB/SmolLM2-135M (their contexts are 2048 and 8192; a rotary
// model's parameters do not depend on T, and the datasets' sequences are
// at most 1024 tokens).
func Preset(name string) (Config, error) {
	switch name {
	case "tiny":
		return Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}, nil
	case "S":
		return Config{V: 256, T: 64, C: 128, L: 2, H: 4, Tied: true}, nil
	case "M":
		return Config{V: 512, T: 128, C: 256, L: 4, H: 8, Tied: true}, nil
	case "pythia-160m":
		return Config{V: 50304, T: 1024, C: 768, L: 12, H: 12, Arch: ArchNeoX, Rotary: 16}, nil
	case "smollm2-135m":
		return Config{V: 49152, T: 1024, C: 576, L: 30, H: 9, Tied: true, Arch: ArchLlama, KV: 3, FF: 1536, RopeTheta: 100000}, nil
	}
	return Config{}, errors.New("model: unknown preset " + strconv.Quote(name) + ", want tiny, S, M, pythia-160m or smollm2-135m")
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
//	wte (V,C); wpe (T,C) only with learned positions;
//	for l = 0..L-1: h.l.ln1.w (C), h.l.ln1.b (C), h.l.attn.qkv.w (Q3,C), h.l.attn.qkv.b (Q3),
//	  h.l.attn.proj.w (C,C), h.l.attn.proj.b (C), h.l.ln2.w (C), h.l.ln2.b (C),
//	  h.l.mlp.fc.w (F,C) or (2F,C), h.l.mlp.fc.b, h.l.mlp.proj.w (C,F), h.l.mlp.proj.b (C);
//	lnf.w (C), lnf.b (C); lm_head.w (V,C) only when !Tied.
//
// The norm biases (.b of ln1, ln2, lnf) exist only for LayerNorm, the other
// biases only where the Block has them; for GPT-2 every tensor exists, Q3 =
// 3C and F = 4C. The qkv rows are [q (H·hs); k (KV·hs); v (KV·hs)], head h
// at rows h·hs..(h+1)·hs of its part. SwiGLU's fc rows are [gate (F); up (F)].
// It panics if cfg is invalid.
func Tensors(cfg Config) []Tensor {
	if err := cfg.Validate(); err != nil {
		panic("model: invalid config")
	}
	V, T, C := cfg.V, cfg.T, cfg.C
	blk := cfg.Block()
	Q3, FC, F := cfg.qkvWidth(), cfg.fcWidth(), cfg.MLPWidth()
	ln := blk.Norm == LayerNorm
	var ts []Tensor
	off := 0
	add := func(ok bool, name string, shape ...int) {
		if !ok {
			return
		}
		size := 1
		for _, d := range shape {
			size *= d
		}
		ts = append(ts, Tensor{Name: name, Shape: shape, Offset: off, Size: size})
		off += size
	}
	add(true, "wte", V, C)
	add(blk.Pos == Learned, "wpe", T, C)
	for l := 0; l < cfg.L; l++ {
		p := "h." + strconv.Itoa(l) + "."
		add(true, p+"ln1.w", C)
		add(ln, p+"ln1.b", C)
		add(true, p+"attn.qkv.w", Q3, C)
		add(blk.QKVBias, p+"attn.qkv.b", Q3)
		add(true, p+"attn.proj.w", C, C)
		add(blk.ProjBias, p+"attn.proj.b", C)
		add(true, p+"ln2.w", C)
		add(ln, p+"ln2.b", C)
		add(true, p+"mlp.fc.w", FC, C)
		add(blk.MLPBias, p+"mlp.fc.b", FC)
		add(true, p+"mlp.proj.w", C, F)
		add(blk.MLPBias, p+"mlp.proj.b", C)
	}
	add(true, "lnf.w", C)
	add(ln, "lnf.b", C)
	add(!cfg.Tied, "lm_head.w", V, C)
	return ts
}

// NumTensors returns len(Tensors(cfg)) without building the table (for
// bounding a config by the tensors a file holds before anything is
// allocated); cfg must pass Validate.
func NumTensors(cfg Config) int {
	blk := cfg.Block()
	b := func(x bool) int {
		if x {
			return 1
		}
		return 0
	}
	ln := b(blk.Norm == LayerNorm)
	perLayer := 6 + 2*ln + b(blk.QKVBias) + b(blk.ProjBias) + 2*b(blk.MLPBias)
	return 1 + b(blk.Pos == Learned) + cfg.L*perLayer + 1 + ln + b(!cfg.Tied)
}

// ParamCount is NumParams(cfg) computed in float64 from the dimensions,
// without building the table, so that an absurd (but valid) config gives a
// huge number instead of an allocation (memory estimates):
//
//	V·C + [learned] T·C + L·(2·C·n + Q3·C + [qkv bias] Q3 + C² + [proj bias] C + G·F·C + F·C + [mlp bias] (G·F + C))
//	  + C·n + [untied] V·C
//
// with n = 2 for LayerNorm (weight and bias), 1 for RMSNorm, and G = 2 for
// SwiGLU, else 1. For GPT-2 the block term is 12C² + 13C.
func ParamCount(cfg Config) float64 {
	blk := cfg.Block()
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	V, T, C, L := float64(cfg.V), float64(cfg.T), float64(cfg.C), float64(cfg.L)
	Q3, FC, F := float64(cfg.qkvWidth()), float64(cfg.fcWidth()), float64(cfg.MLPWidth())
	n := 1 + b(blk.Norm == LayerNorm)
	layer := 2*C*n + Q3*C + b(blk.QKVBias)*Q3 + C*C + b(blk.ProjBias)*C + FC*C + F*C + b(blk.MLPBias)*(FC+C)
	return V*C + b(blk.Pos == Learned)*T*C + L*layer + C*n + b(!cfg.Tied)*V*C
}

// Normalize returns c with every block setting that equals its default
// (KV = H, F = 4C, eps 1e-5, rotary dims = hs, θ = 10000) set to zero, the
// one spelling of a config that Config values compare by.
func (c Config) Normalize() Config {
	if c.Arch == ArchGPT2 || c.H < 1 {
		return c
	}
	if c.KV == c.H {
		c.KV = 0
	}
	if c.FF == 4*c.C {
		c.FF = 0
	}
	if c.Eps == lnEps {
		c.Eps = 0
	}
	if c.Rotary == c.C/c.H {
		c.Rotary = 0
	}
	if c.RopeTheta == 10000 {
		c.RopeTheta = 0
	}
	return c
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

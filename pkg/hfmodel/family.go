package hfmodel

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"entangle/pkg/model"
)

// Mapping is one row of a family's tensor table: the tensor HF of the model
// directory (named without the family's prefix, with Shape as stored) fills
// rows Row0.. of the model.Tensors tensor Ours. With Transpose the stored
// 2-D tensor is the transpose of those rows (a Conv1D weight stored
// [in, out]). Several rows may fill one tensor of ours (a family that stores
// q, k and v apart fills the fused qkv in three row blocks); the loader checks
// that every tensor of ours is covered exactly once. With Heads > 0 the
// stored rows are grouped by head, (Heads, 3, hs) blocks of rows, which ours
// holds as (3, Heads, hs): GPT-NeoX's query_key_value, whose rows are
// q, k, v of head 0, then of head 1, ….
type Mapping struct {
	HF        string
	Shape     []int
	Ours      string
	Row0      int
	Transpose bool
	Heads     int
}

// Family is one Hugging Face architecture: how its config.json becomes a
// model.Config (refusing every setting the model does not implement), its
// tensor table, the buffers a checkpoint may carry that are not parameters,
// and the config.json written on export.
type Family struct {
	ModelType     string   // config.json "model_type"
	Architectures []string // accepted "architectures" entries (the first is written on export)
	Prefixes      []string // name prefixes a checkpoint may put before every tensor name
	// Config reads config.json (its keys, raw) into a model.Config.
	Config func(keys map[string]json.RawMessage) (model.Config, error)
	// Table is the tensor table of cfg, in export order.
	Table func(cfg model.Config) []Mapping
	// Buffer reports whether a stored name (prefix removed) is a non-parameter
	// buffer to skip.
	Buffer func(name string) bool
	// ExportConfig returns the config.json of cfg, with torch_dtype dtype,
	// or an error when cfg is not of this family.
	ExportConfig func(cfg model.Config, dtype string) (map[string]any, error)
	// Dims names cfg's dimensions in config.json's words (for errors).
	Dims func(cfg model.Config) string
	// PerLayer is the least number of stored tensors of one block (a
	// config's layer count is bounded by the stored tensors before the
	// table is built).
	PerLayer int
}

// families are the supported architectures, by model_type.
var families = map[string]*Family{
	"gpt2": gpt2Family, "gpt_neox": neoxFamily,
	"llama": llamaFamily, "mistral": mistralFamily, "qwen2": qwen2Family,
}

// ModelType returns the model_type a model of cfg is exported as: gpt2,
// gpt_neox, qwen2 (a llama block with q, k, v biases only) or llama.
func ModelType(cfg model.Config) string {
	switch cfg.Arch {
	case model.ArchNeoX:
		return "gpt_neox"
	case model.ArchLlama:
		if cfg.QKVBias && !cfg.ProjBias && !cfg.MLPBias {
			return "qwen2"
		}
		return "llama"
	}
	return "gpt2"
}

// Families returns the supported model_type values, sorted.
func Families() []string {
	var s []string
	for k := range families {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// ---------------------------------------------------------------------------
// GPT-2 (gpt2, distilgpt2, gpt2-medium/large/xl), from transformers'
// modeling_gpt2.py: pre-LN blocks, Conv1D layers computing addmm(b, x, W)
// with W stored [in, out], c_attn's 3C output columns q | k | v with head h
// at columns h·hs..(h+1)·hs of each, tanh GELU ("gelu_new"), LayerNorm eps
// 1e-5, attention scores scaled by 1/√hs, learned positions, LM head tied to
// wte. attn.bias (the causal mask) and attn.masked_bias are buffers.

var gpt2Family = &Family{
	ModelType:     "gpt2",
	Architectures: []string{"GPT2LMHeadModel", "GPT2Model"},
	Prefixes:      []string{"transformer."},
	Config:        gpt2Config,
	Table:         gpt2Table,
	Buffer:        regexp.MustCompile(`^h\.[0-9]+\.attn\.(bias|masked_bias)$`).MatchString,
	ExportConfig:  gpt2ExportConfig,
	PerLayer:      12,
	Dims: func(c model.Config) string {
		return fmt.Sprintf("vocab_size %d, n_positions %d, n_embd %d, n_layer %d, n_head %d", c.V, c.T, c.C, c.L, c.H)
	},
}

func gpt2Table(cfg model.Config) []Mapping {
	V, T, C := cfg.V, cfg.T, cfg.C
	tab := []Mapping{
		{HF: "wte.weight", Shape: []int{V, C}, Ours: "wte"},
		{HF: "wpe.weight", Shape: []int{T, C}, Ours: "wpe"},
	}
	for l := 0; l < cfg.L; l++ {
		p, o := "h."+strconv.Itoa(l)+".", "h."+strconv.Itoa(l)+"."
		tab = append(tab,
			Mapping{HF: p + "ln_1.weight", Shape: []int{C}, Ours: o + "ln1.w"},
			Mapping{HF: p + "ln_1.bias", Shape: []int{C}, Ours: o + "ln1.b"},
			Mapping{HF: p + "attn.c_attn.weight", Shape: []int{C, 3 * C}, Ours: o + "attn.qkv.w", Transpose: true},
			Mapping{HF: p + "attn.c_attn.bias", Shape: []int{3 * C}, Ours: o + "attn.qkv.b"},
			Mapping{HF: p + "attn.c_proj.weight", Shape: []int{C, C}, Ours: o + "attn.proj.w", Transpose: true},
			Mapping{HF: p + "attn.c_proj.bias", Shape: []int{C}, Ours: o + "attn.proj.b"},
			Mapping{HF: p + "ln_2.weight", Shape: []int{C}, Ours: o + "ln2.w"},
			Mapping{HF: p + "ln_2.bias", Shape: []int{C}, Ours: o + "ln2.b"},
			Mapping{HF: p + "mlp.c_fc.weight", Shape: []int{C, 4 * C}, Ours: o + "mlp.fc.w", Transpose: true},
			Mapping{HF: p + "mlp.c_fc.bias", Shape: []int{4 * C}, Ours: o + "mlp.fc.b"},
			Mapping{HF: p + "mlp.c_proj.weight", Shape: []int{4 * C, C}, Ours: o + "mlp.proj.w", Transpose: true},
			Mapping{HF: p + "mlp.c_proj.bias", Shape: []int{C}, Ours: o + "mlp.proj.b"},
		)
	}
	tab = append(tab,
		Mapping{HF: "ln_f.weight", Shape: []int{C}, Ours: "lnf.w"},
		Mapping{HF: "ln_f.bias", Shape: []int{C}, Ours: "lnf.b"})
	if !cfg.Tied {
		tab = append(tab, Mapping{HF: "lm_head.weight", Shape: []int{V, C}, Ours: "lm_head.w"})
	}
	return tab
}

// gpt2Config reads a GPT2Config. Absent keys take transformers' GPT2Config
// defaults; keys that change the computation must have the values the model
// implements. Other keys (dropout rates, generation settings, token ids) do
// not change a forward pass without dropout and are ignored.
func gpt2Config(keys map[string]json.RawMessage) (model.Config, error) {
	r := reader{keys: keys}
	cfg := model.Config{
		V:    r.int("vocab_size", 50257, model.MaxVocab),
		T:    r.int("n_positions", 1024, model.MaxContext),
		C:    r.int("n_embd", 768, model.MaxWidth),
		L:    r.int("n_layer", 12, model.MaxLayers),
		H:    r.int("n_head", 12, model.MaxWidth),
		Tied: r.bool("tie_word_embeddings", true),
	}
	if r.err != nil {
		return cfg, r.err
	}
	if act := r.str("activation_function", "gelu_new"); act != "gelu_new" && act != "gelu_pytorch_tanh" && r.err == nil {
		return cfg, fmt.Errorf("activation_function %q is not supported (the model implements the tanh GELU, gelu_new)", act)
	}
	if inner, ok := keys["n_inner"]; ok && string(inner) != "null" {
		if n := r.int("n_inner", 0, 4*model.MaxWidth); r.err == nil && n != 4*cfg.C {
			return cfg, fmt.Errorf("n_inner %d is not supported (the model's MLP width is 4·n_embd = %d)", n, 4*cfg.C)
		}
	}
	if eps := r.float("layer_norm_epsilon", 1e-5); r.err == nil && eps != 1e-5 {
		return cfg, fmt.Errorf("layer_norm_epsilon %g is not supported (the model uses 1e-5)", eps)
	}
	for _, k := range []struct {
		name string
		want bool
		why  string
	}{
		{"scale_attn_weights", true, "the model scales attention scores by 1/√head_dim"},
		{"scale_attn_by_inverse_layer_idx", false, "the model does not scale attention by 1/(layer+1)"},
		{"reorder_and_upcast_attn", false, "the model computes attention in one fixed order"},
		{"add_cross_attention", false, "the model has no cross-attention"},
	} {
		if v := r.bool(k.name, k.want); r.err == nil && v != k.want {
			return cfg, fmt.Errorf("%s %v is not supported (%s)", k.name, v, k.why)
		}
	}
	if raw, ok := keys["pruned_heads"]; ok {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil || len(m) > 0 {
			return cfg, fmt.Errorf("pruned_heads %s is not supported (every layer must keep all n_head heads)", raw)
		}
	}
	if r.err != nil {
		return cfg, r.err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func gpt2ExportConfig(cfg model.Config, dtype string) (map[string]any, error) {
	if cfg.Arch != model.ArchGPT2 {
		return nil, fmt.Errorf("hfmodel: a %q block is not a gpt2 model", cfg.Arch)
	}
	return map[string]any{
		"architectures":                   []string{"GPT2LMHeadModel"},
		"model_type":                      "gpt2",
		"vocab_size":                      cfg.V,
		"n_positions":                     cfg.T,
		"n_ctx":                           cfg.T,
		"n_embd":                          cfg.C,
		"n_layer":                         cfg.L,
		"n_head":                          cfg.H,
		"n_inner":                         nil,
		"activation_function":             "gelu_new",
		"layer_norm_epsilon":              1e-5,
		"scale_attn_weights":              true,
		"scale_attn_by_inverse_layer_idx": false,
		"reorder_and_upcast_attn":         false,
		"tie_word_embeddings":             cfg.Tied,
		"resid_pdrop":                     0.0,
		"embd_pdrop":                      0.0,
		"attn_pdrop":                      0.0,
		"initializer_range":               0.02,
		"use_cache":                       true,
		"torch_dtype":                     torchDType[dtype],
	}, nil
}

// torchDType is config.json's torch_dtype of each safetensors float dtype.
var torchDType = map[string]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

// reader reads typed config keys, keeping the first error.
type reader struct {
	keys map[string]json.RawMessage
	err  error
}

func (r *reader) get(name string, v any) bool {
	raw, ok := r.keys[name]
	if !ok || r.err != nil || string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		r.err = fmt.Errorf("%s: %s has the wrong type", name, strings.TrimSpace(string(raw)))
		return false
	}
	return true
}

func (r *reader) int(name string, def, max int) int {
	var f float64
	if !r.get(name, &f) {
		return def
	}
	if f != float64(int64(f)) || f < 1 || f > float64(max) {
		r.err = fmt.Errorf("%s %s must be an integer in [1, %d]", name, strconv.FormatFloat(f, 'f', -1, 64), max)
		return def
	}
	return int(f)
}

func (r *reader) bool(name string, def bool) bool {
	v := def
	r.get(name, &v)
	return v
}

func (r *reader) float(name string, def float64) float64 {
	v := def
	r.get(name, &v)
	return v
}

func (r *reader) str(name, def string) string {
	v := def
	r.get(name, &v)
	return v
}

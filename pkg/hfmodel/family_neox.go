package hfmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"entangle/pkg/model"
)

// ---------------------------------------------------------------------------
// GPT-NeoX (Pythia), from transformers' modeling_gpt_neox.py: pre-LN blocks
// with a parallel residual x + attn(ln1 x) + mlp(ln2 x) (the GPT-2 form when
// use_parallel_residual is false), nn.Linear layers [out, in] with biases,
// query_key_value's 3C rows grouped by head (q, k, v of head 0, then head
// 1, …), rotary embeddings on the first int(hs·rotary_pct) dims of each head
// (rotate-half), exact erf GELU, LayerNorm eps layer_norm_eps, untied
// embed_out. Older checkpoints store attention.bias, attention.masked_bias
// and attention.rotary_emb.inv_freq buffers.

var neoxFamily = &Family{
	ModelType:     "gpt_neox",
	Architectures: []string{"GPTNeoXForCausalLM", "GPTNeoXModel"},
	Config:        neoxConfig,
	Table:         neoxTable,
	Buffer: regexp.MustCompile(`^gpt_neox\.(layers\.[0-9]+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)|rotary_emb\.inv_freq)$`).
		MatchString,
	ExportConfig: neoxExportConfig,
	PerLayer:     12,
	Dims: func(c model.Config) string {
		return fmt.Sprintf("vocab_size %d, hidden_size %d, num_hidden_layers %d, num_attention_heads %d, intermediate_size %d",
			c.V, c.C, c.L, c.H, c.MLPWidth())
	},
}

func neoxTable(cfg model.Config) []Mapping {
	V, C, F := cfg.V, cfg.C, cfg.MLPWidth()
	tab := []Mapping{{HF: "gpt_neox.embed_in.weight", Shape: []int{V, C}, Ours: "wte"}}
	for l := 0; l < cfg.L; l++ {
		p, o := "gpt_neox.layers."+strconv.Itoa(l)+".", "h."+strconv.Itoa(l)+"."
		tab = append(tab,
			Mapping{HF: p + "input_layernorm.weight", Shape: []int{C}, Ours: o + "ln1.w"},
			Mapping{HF: p + "input_layernorm.bias", Shape: []int{C}, Ours: o + "ln1.b"},
			Mapping{HF: p + "attention.query_key_value.weight", Shape: []int{3 * C, C}, Ours: o + "attn.qkv.w", Heads: cfg.H},
			Mapping{HF: p + "attention.query_key_value.bias", Shape: []int{3 * C}, Ours: o + "attn.qkv.b", Heads: cfg.H},
			Mapping{HF: p + "attention.dense.weight", Shape: []int{C, C}, Ours: o + "attn.proj.w"},
			Mapping{HF: p + "attention.dense.bias", Shape: []int{C}, Ours: o + "attn.proj.b"},
			Mapping{HF: p + "post_attention_layernorm.weight", Shape: []int{C}, Ours: o + "ln2.w"},
			Mapping{HF: p + "post_attention_layernorm.bias", Shape: []int{C}, Ours: o + "ln2.b"},
			Mapping{HF: p + "mlp.dense_h_to_4h.weight", Shape: []int{F, C}, Ours: o + "mlp.fc.w"},
			Mapping{HF: p + "mlp.dense_h_to_4h.bias", Shape: []int{F}, Ours: o + "mlp.fc.b"},
			Mapping{HF: p + "mlp.dense_4h_to_h.weight", Shape: []int{C, F}, Ours: o + "mlp.proj.w"},
			Mapping{HF: p + "mlp.dense_4h_to_h.bias", Shape: []int{C}, Ours: o + "mlp.proj.b"},
		)
	}
	tab = append(tab,
		Mapping{HF: "gpt_neox.final_layer_norm.weight", Shape: []int{C}, Ours: "lnf.w"},
		Mapping{HF: "gpt_neox.final_layer_norm.bias", Shape: []int{C}, Ours: "lnf.b"})
	if !cfg.Tied {
		tab = append(tab, Mapping{HF: "embed_out.weight", Shape: []int{V, C}, Ours: "lm_head.w"})
	}
	return tab
}

// neoxConfig reads a GPTNeoXConfig; absent keys take its defaults.
func neoxConfig(keys map[string]json.RawMessage) (model.Config, error) {
	r := reader{keys: keys}
	cfg := model.Config{
		Arch: model.ArchNeoX,
		V:    r.int("vocab_size", 50432, model.MaxVocab),
		T:    r.int("max_position_embeddings", 2048, model.MaxContext),
		C:    r.int("hidden_size", 6144, model.MaxWidth),
		L:    r.int("num_hidden_layers", 44, model.MaxLayers),
		H:    r.int("num_attention_heads", 64, model.MaxWidth),
		FF:   r.int("intermediate_size", 24576, 16*model.MaxWidth),
		Tied: r.bool("tie_word_embeddings", false),
		Eps:  r.float("layer_norm_eps", 1e-5),
	}
	cfg.Sequential = !r.bool("use_parallel_residual", true)
	pct := r.float("rotary_pct", 0.25)
	base, err := ropeBase(&r, "rotary_emb_base")
	if err != nil {
		return cfg, err
	}
	cfg.RopeTheta = base
	if r.err != nil {
		return cfg, r.err
	}
	if act := r.str("hidden_act", "gelu"); act != "gelu" && r.err == nil {
		return cfg, fmt.Errorf("hidden_act %q is not supported (the model implements the exact erf GELU, gelu)", act)
	}
	if !r.bool("attention_bias", true) && r.err == nil {
		return cfg, fmt.Errorf("attention_bias false is not supported (the model's neox blocks have every bias)")
	}
	if err := refuseRopeScaling(keys); err != nil {
		return cfg, err
	}
	if !(cfg.Eps > 0) && r.err == nil {
		return cfg, fmt.Errorf("layer_norm_eps %g must be positive", cfg.Eps)
	}
	if r.err != nil {
		return cfg, r.err
	}
	if cfg.H < 1 || cfg.C%cfg.H != 0 {
		return cfg, fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", cfg.C, cfg.H)
	}
	hs := cfg.C / cfg.H
	rot := int(float64(hs) * pct) // transformers' int(head_size · rotary_pct)
	if !(pct > 0 && pct <= 1) || rot < 2 || rot%2 != 0 {
		return cfg, fmt.Errorf("rotary_pct %g gives %d rotary dims of head size %d, want an even number ≥ 2", pct, rot, hs)
	}
	cfg.Rotary = rot
	cfg = cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// ropeBase reads the rotary base from rope_theta or the older key old
// (default 10000); both present must agree.
func ropeBase(r *reader, old string) (float64, error) {
	base := r.float(old, 10000)
	if _, ok := r.keys["rope_theta"]; ok {
		th := r.float("rope_theta", base)
		if _, both := r.keys[old]; both && th != base && r.err == nil {
			return 0, fmt.Errorf("rope_theta %g and %s %g differ", th, old, base)
		}
		base = th
	}
	if !(base > 1) && r.err == nil {
		return 0, fmt.Errorf("rope_theta %g must be greater than 1", base)
	}
	return base, r.err
}

// refuseRopeScaling accepts only an absent or null rope_scaling.
func refuseRopeScaling(keys map[string]json.RawMessage) error {
	if raw, ok := keys["rope_scaling"]; ok && string(raw) != "null" {
		return fmt.Errorf("rope_scaling %s is not supported (the model implements plain rotary embeddings)", raw)
	}
	return nil
}

func neoxExportConfig(cfg model.Config, dtype string) (map[string]any, error) {
	if cfg.Arch != model.ArchNeoX {
		return nil, fmt.Errorf("hfmodel: a %q block is not a gpt_neox model", cfg.Arch)
	}
	hs := cfg.C / cfg.H
	// rotary_pct such that transformers' int(head_size·rotary_pct) is the rotary dims
	pct := float64(cfg.RotaryDims()) / float64(hs)
	if int(float64(hs)*pct) != cfg.RotaryDims() {
		pct = math.Nextafter(pct, 2)
	}
	return map[string]any{
		"architectures":           []string{"GPTNeoXForCausalLM"},
		"model_type":              "gpt_neox",
		"vocab_size":              cfg.V,
		"max_position_embeddings": cfg.T,
		"hidden_size":             cfg.C,
		"num_hidden_layers":       cfg.L,
		"num_attention_heads":     cfg.H,
		"intermediate_size":       cfg.MLPWidth(),
		"hidden_act":              "gelu",
		"rotary_pct":              pct,
		"rotary_emb_base":         cfg.RopeBase(),
		"rope_theta":              cfg.RopeBase(),
		"rope_scaling":            nil,
		"layer_norm_eps":          cfg.NormEps(),
		"use_parallel_residual":   !cfg.Sequential,
		"attention_bias":          true,
		"tie_word_embeddings":     cfg.Tied,
		"attention_dropout":       0.0,
		"hidden_dropout":          0.0,
		"initializer_range":       0.02,
		"use_cache":               true,
		"torch_dtype":             torchDType[dtype],
	}, nil
}

package hfmodel

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"entangle/pkg/model"
)

// ---------------------------------------------------------------------------
// Llama (Llama 2/3, SmolLM2), Mistral and Qwen2, from transformers'
// modeling_llama.py (modeling_mistral.py and modeling_qwen2.py compute the
// same blocks): pre-norm blocks x += attn(rms1 x), x += mlp(rms2 x), RMSNorm
// x·rsqrt(mean(x²)+eps)·w, q_proj/k_proj/v_proj/o_proj nn.Linear [out, in]
// with num_key_value_heads ≤ num_attention_heads (grouped-query attention),
// rotary embeddings on every head dim (rotate-half, rope_theta, optionally
// Llama-3's frequency scaling), SwiGLU down(silu(gate x)·up x), no biases
// (attention_bias: q, k, v, o; mlp_bias: gate, up, down; Qwen2: q, k, v
// always), lm_head tied to embed_tokens when tie_word_embeddings.
// model.layers.N.self_attn.rotary_emb.inv_freq is a buffer of older
// checkpoints.

var (
	llamaFamily   = llamaLike("llama", []string{"LlamaForCausalLM", "LlamaModel"})
	mistralFamily = llamaLike("mistral", []string{"MistralForCausalLM", "MistralModel"})
	qwen2Family   = llamaLike("qwen2", []string{"Qwen2ForCausalLM", "Qwen2Model"})
)

func llamaLike(modelType string, archs []string) *Family {
	return &Family{
		ModelType:     modelType,
		Architectures: archs,
		Config:        func(keys map[string]json.RawMessage) (model.Config, error) { return llamaConfig(modelType, keys) },
		Table:         llamaTable,
		Buffer:        regexp.MustCompile(`^model\.layers\.[0-9]+\.self_attn\.rotary_emb\.inv_freq$`).MatchString,
		ExportConfig: func(cfg model.Config, dtype string) (map[string]any, error) {
			return llamaExportConfig(modelType, cfg, dtype)
		},
		PerLayer: 9,
		Dims: func(c model.Config) string {
			return fmt.Sprintf("vocab_size %d, hidden_size %d, num_hidden_layers %d, num_attention_heads %d, num_key_value_heads %d, intermediate_size %d",
				c.V, c.C, c.L, c.H, c.KVHeads(), c.MLPWidth())
		},
	}
}

func llamaTable(cfg model.Config) []Mapping {
	V, C, F := cfg.V, cfg.C, cfg.MLPWidth()
	KC := cfg.KVHeads() * (C / cfg.H) // rows of k_proj and v_proj
	tab := []Mapping{{HF: "model.embed_tokens.weight", Shape: []int{V, C}, Ours: "wte"}}
	for l := 0; l < cfg.L; l++ {
		p, o := "model.layers."+strconv.Itoa(l)+".", "h."+strconv.Itoa(l)+"."
		tab = append(tab,
			Mapping{HF: p + "input_layernorm.weight", Shape: []int{C}, Ours: o + "ln1.w"},
			Mapping{HF: p + "self_attn.q_proj.weight", Shape: []int{C, C}, Ours: o + "attn.qkv.w"},
			Mapping{HF: p + "self_attn.k_proj.weight", Shape: []int{KC, C}, Ours: o + "attn.qkv.w", Row0: C},
			Mapping{HF: p + "self_attn.v_proj.weight", Shape: []int{KC, C}, Ours: o + "attn.qkv.w", Row0: C + KC})
		if cfg.QKVBias {
			tab = append(tab,
				Mapping{HF: p + "self_attn.q_proj.bias", Shape: []int{C}, Ours: o + "attn.qkv.b"},
				Mapping{HF: p + "self_attn.k_proj.bias", Shape: []int{KC}, Ours: o + "attn.qkv.b", Row0: C},
				Mapping{HF: p + "self_attn.v_proj.bias", Shape: []int{KC}, Ours: o + "attn.qkv.b", Row0: C + KC})
		}
		tab = append(tab, Mapping{HF: p + "self_attn.o_proj.weight", Shape: []int{C, C}, Ours: o + "attn.proj.w"})
		if cfg.ProjBias {
			tab = append(tab, Mapping{HF: p + "self_attn.o_proj.bias", Shape: []int{C}, Ours: o + "attn.proj.b"})
		}
		tab = append(tab,
			Mapping{HF: p + "post_attention_layernorm.weight", Shape: []int{C}, Ours: o + "ln2.w"},
			Mapping{HF: p + "mlp.gate_proj.weight", Shape: []int{F, C}, Ours: o + "mlp.fc.w"},
			Mapping{HF: p + "mlp.up_proj.weight", Shape: []int{F, C}, Ours: o + "mlp.fc.w", Row0: F},
			Mapping{HF: p + "mlp.down_proj.weight", Shape: []int{C, F}, Ours: o + "mlp.proj.w"})
		if cfg.MLPBias {
			tab = append(tab,
				Mapping{HF: p + "mlp.gate_proj.bias", Shape: []int{F}, Ours: o + "mlp.fc.b"},
				Mapping{HF: p + "mlp.up_proj.bias", Shape: []int{F}, Ours: o + "mlp.fc.b", Row0: F},
				Mapping{HF: p + "mlp.down_proj.bias", Shape: []int{C}, Ours: o + "mlp.proj.b"})
		}
	}
	tab = append(tab, Mapping{HF: "model.norm.weight", Shape: []int{C}, Ours: "lnf.w"})
	if !cfg.Tied {
		tab = append(tab, Mapping{HF: "lm_head.weight", Shape: []int{V, C}, Ours: "lm_head.w"})
	}
	return tab
}

// llamaConfig reads a LlamaConfig, MistralConfig or Qwen2Config; absent
// keys take that config class's defaults.
func llamaConfig(modelType string, keys map[string]json.RawMessage) (model.Config, error) {
	r := reader{keys: keys}
	def := map[string]int{"llama": 11008, "mistral": 14336, "qwen2": 22016}[modelType]
	cfg := model.Config{
		Arch: model.ArchLlama,
		V:    r.int("vocab_size", map[string]int{"llama": 32000, "mistral": 32000, "qwen2": 151936}[modelType], model.MaxVocab),
		T:    r.int("max_position_embeddings", map[string]int{"llama": 2048, "mistral": 4096 * 32, "qwen2": 32768}[modelType], model.MaxContext),
		C:    r.int("hidden_size", 4096, model.MaxWidth),
		L:    r.int("num_hidden_layers", 32, model.MaxLayers),
		H:    r.int("num_attention_heads", 32, model.MaxWidth),
		FF:   r.int("intermediate_size", def, 16*model.MaxWidth),
		Tied: r.bool("tie_word_embeddings", false),
		Eps:  r.float("rms_norm_eps", map[string]float64{"llama": 1e-6, "mistral": 1e-6, "qwen2": 1e-6}[modelType]),
	}
	kvDef := cfg.H
	if modelType == "mistral" {
		kvDef = 8
	}
	cfg.KV = r.int("num_key_value_heads", kvDef, model.MaxWidth)
	base, err := ropeBase(&r, "rope_theta")
	if err != nil {
		return cfg, err
	}
	cfg.RopeTheta = base
	switch modelType {
	case "qwen2":
		cfg.QKVBias = true
		if r.bool("use_sliding_window", false) && r.err == nil {
			return cfg, fmt.Errorf("use_sliding_window true is not supported (the model attends to every earlier position)")
		}
	case "mistral":
		if raw, ok := keys["sliding_window"]; ok && string(raw) != "null" {
			if w := r.int("sliding_window", 1, model.MaxContext); r.err == nil && w < cfg.T {
				return cfg, fmt.Errorf("sliding_window %d is not supported (the model attends to every earlier position; null or ≥ max_position_embeddings %d is)", w, cfg.T)
			}
		}
	default:
		ab := r.bool("attention_bias", false)
		cfg.QKVBias, cfg.ProjBias = ab, ab
		cfg.MLPBias = r.bool("mlp_bias", false)
	}
	if r.err != nil {
		return cfg, r.err
	}
	if act := r.str("hidden_act", "silu"); act != "silu" && r.err == nil {
		return cfg, fmt.Errorf("hidden_act %q is not supported (the model implements SwiGLU with silu)", act)
	}
	if cfg.C%cfg.H != 0 {
		return cfg, fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", cfg.C, cfg.H)
	}
	if raw, ok := keys["head_dim"]; ok && string(raw) != "null" {
		if hd := r.int("head_dim", 1, model.MaxWidth); r.err == nil && hd != cfg.C/cfg.H {
			return cfg, fmt.Errorf("head_dim %d is not supported (the model's head size is hidden_size/num_attention_heads = %d)", hd, cfg.C/cfg.H)
		}
	}
	if cfg.H%cfg.KV != 0 {
		return cfg, fmt.Errorf("num_key_value_heads %d does not divide num_attention_heads %d", cfg.KV, cfg.H)
	}
	if (cfg.C/cfg.H)%2 != 0 {
		return cfg, fmt.Errorf("head size %d is odd (rotary embeddings turn pairs of dims)", cfg.C/cfg.H)
	}
	if !(cfg.Eps > 0) && r.err == nil {
		return cfg, fmt.Errorf("rms_norm_eps %g must be positive", cfg.Eps)
	}
	if err := llama3Scaling(&r, &cfg); err != nil {
		return cfg, err
	}
	if r.err != nil {
		return cfg, r.err
	}
	cfg = cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// llama3Scaling reads rope_scaling: absent or null, or rope_type "llama3"
// with factor, low_freq_factor, high_freq_factor and
// original_max_position_embeddings. Every other rope_type is refused.
func llama3Scaling(r *reader, cfg *model.Config) error {
	raw, ok := r.keys["rope_scaling"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var rs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rs); err != nil || rs == nil {
		return fmt.Errorf("rope_scaling %s is not an object", raw)
	}
	sub := reader{keys: rs}
	typ := sub.str("rope_type", sub.str("type", ""))
	if typ != "llama3" {
		return fmt.Errorf("rope_scaling %s is not supported (only rope_type llama3 is implemented)", raw)
	}
	cfg.RopeFactor = sub.float("factor", 0)
	cfg.RopeLowFreq = sub.float("low_freq_factor", 0)
	cfg.RopeHighFreq = sub.float("high_freq_factor", 0)
	cfg.RopeOrigCtx = sub.int("original_max_position_embeddings", 1, model.MaxContext)
	for k := range rs {
		switch k {
		case "rope_type", "type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings":
		default:
			return fmt.Errorf("rope_scaling key %q is not supported for llama3 scaling", k)
		}
	}
	if sub.err != nil {
		return fmt.Errorf("rope_scaling: %v", sub.err)
	}
	if _, ok := rs["original_max_position_embeddings"]; !ok || !(cfg.RopeFactor >= 1) || !(cfg.RopeLowFreq > 0) || !(cfg.RopeHighFreq > cfg.RopeLowFreq) {
		return fmt.Errorf("rope_scaling %s: llama3 needs factor ≥ 1, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings", raw)
	}
	return nil
}

func llamaExportConfig(modelType string, cfg model.Config, dtype string) (map[string]any, error) {
	if cfg.Arch != model.ArchLlama {
		return nil, fmt.Errorf("hfmodel: a %q block is not a %s model", cfg.Arch, modelType)
	}
	c := map[string]any{
		"model_type":              modelType,
		"vocab_size":              cfg.V,
		"max_position_embeddings": cfg.T,
		"hidden_size":             cfg.C,
		"num_hidden_layers":       cfg.L,
		"num_attention_heads":     cfg.H,
		"num_key_value_heads":     cfg.KVHeads(),
		"head_dim":                cfg.C / cfg.H,
		"intermediate_size":       cfg.MLPWidth(),
		"hidden_act":              "silu",
		"rms_norm_eps":            cfg.NormEps(),
		"rope_theta":              cfg.RopeBase(),
		"rope_scaling":            nil,
		"tie_word_embeddings":     cfg.Tied,
		"attention_dropout":       0.0,
		"initializer_range":       0.02,
		"use_cache":               true,
		"torch_dtype":             torchDType[dtype],
	}
	if cfg.RopeFactor != 0 {
		c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": cfg.RopeFactor, "low_freq_factor": cfg.RopeLowFreq,
			"high_freq_factor": cfg.RopeHighFreq, "original_max_position_embeddings": cfg.RopeOrigCtx}
	}
	switch modelType {
	case "qwen2":
		if !cfg.QKVBias || cfg.ProjBias || cfg.MLPBias {
			return nil, fmt.Errorf("hfmodel: a qwen2 model has q, k, v biases only")
		}
		if cfg.RopeFactor != 0 {
			return nil, fmt.Errorf("hfmodel: llama3 rope scaling is written as a llama model, not qwen2")
		}
		c["architectures"] = []string{"Qwen2ForCausalLM"}
		c["use_sliding_window"] = false
		c["sliding_window"] = cfg.T
		c["max_window_layers"] = cfg.L
	case "mistral":
		if cfg.QKVBias || cfg.ProjBias || cfg.MLPBias {
			return nil, fmt.Errorf("hfmodel: a mistral model has no biases")
		}
		c["architectures"] = []string{"MistralForCausalLM"}
		c["sliding_window"] = nil
	default:
		if cfg.QKVBias != cfg.ProjBias {
			return nil, fmt.Errorf("hfmodel: a llama model has biases on all of q, k, v, o (attention_bias) or none; q, k, v alone is qwen2")
		}
		c["architectures"] = []string{"LlamaForCausalLM"}
		c["attention_bias"] = cfg.QKVBias
		c["mlp_bias"] = cfg.MLPBias
		c["pretraining_tp"] = 1
	}
	return c, nil
}

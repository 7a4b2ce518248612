package hfmodel

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

var (
	neoxCfg  = model.Config{Arch: model.ArchNeoX, V: 30, T: 12, C: 16, L: 2, H: 2, Rotary: 4}
	llamaCfg = model.Config{Arch: model.ArchLlama, V: 30, T: 12, C: 16, L: 2, H: 4, KV: 2, FF: 24, Tied: true}
	qwenCfg  = model.Config{Arch: model.ArchLlama, V: 30, T: 12, C: 16, L: 1, H: 2, QKVBias: true}
)

// familyDir writes a directory of model type mt for cfg (parameters
// i·0.001) and returns its path and the parameters.
func familyDir(t *testing.T, mt string, cfg model.Config) (string, []float32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	p := make([]float32, model.NumParams(cfg))
	for i := range p {
		p[i] = float32(i%997) * 0.001
	}
	if err := Write(dir, mt, cfg, p, "F32"); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// TestFamilyRoundTrip: Write then Load gives the config and parameters back
// for every family, and NeoX's per-head interleaving puts head h's q, k, v
// rows where transformers reads them.
func TestFamilyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		mt  string
		cfg model.Config
	}{{"gpt_neox", neoxCfg}, {"llama", llamaCfg}, {"qwen2", qwenCfg}, {"mistral", llamaCfg},
		{"llama", model.Config{Arch: model.ArchLlama, V: 9, T: 40, C: 8, L: 1, H: 2, ProjBias: true, QKVBias: true, MLPBias: true,
			RopeFactor: 8, RopeLowFreq: 1, RopeHighFreq: 4, RopeOrigCtx: 16, RopeTheta: 500000, Eps: 1e-6}},
		{"gpt_neox", model.Config{Arch: model.ArchNeoX, V: 9, T: 4, C: 12, L: 1, H: 2, Rotary: 2, Sequential: true, Tied: true, FF: 20}},
	} {
		dir, p := familyDir(t, tc.mt, tc.cfg)
		m, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Family != tc.mt || m.Config != tc.cfg || !slices.Equal(m.Params, p) {
			t.Fatalf("%s %+v: loads back as %s %+v (params equal %v)", tc.mt, tc.cfg, m.Family, m.Config, slices.Equal(m.Params, p))
		}
	}
	// query_key_value row r of head h = r / (3·hs), part (r / hs) % 3 is row part·C + h·hs + r%hs of ours
	dir, p := familyDir(t, "gpt_neox", neoxCfg)
	f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	C, hs := neoxCfg.C, neoxCfg.C/neoxCfg.H
	ours := model.ViewOf(p, neoxCfg, "h.1.attn.qkv.w")
	for _, x := range f.Tensors {
		if x.Name != "gpt_neox.layers.1.attention.query_key_value.weight" {
			continue
		}
		st := make([]float32, 3*C*C)
		safetensors.DecodeFloat32s(st, x.DType, x.Data)
		for r := 0; r < 3*C; r++ {
			h, part, i := r/(3*hs), (r/hs)%3, r%hs
			o := part*C + h*hs + i
			if !slices.Equal(st[r*C:(r+1)*C], ours[o*C:(o+1)*C]) {
				t.Fatalf("stored row %d (head %d part %d) is not our row %d", r, h, part, o)
			}
		}
	}
}

// TestLoadFamilyErrors: every config.json setting the NeoX and Llama blocks
// do not implement is one line naming config.json.
func TestLoadFamilyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mt   string
		cmut func(c map[string]any)
		file string
		want string
	}{
		{"neox act", "gpt_neox", set("hidden_act", "gelu_fast"), ConfigFile, `hidden_act "gelu_fast" is not supported`},
		{"neox rope scaling", "gpt_neox", set("rope_scaling", map[string]any{"type": "linear", "factor": 2.0}), ConfigFile, "rope_scaling"},
		{"neox no bias", "gpt_neox", set("attention_bias", false), ConfigFile, "attention_bias false"},
		{"neox odd rotary", "gpt_neox", set("rotary_pct", 0.4), ConfigFile, "rotary_pct 0.4 gives 3 rotary dims"},
		{"neox theta disagree", "gpt_neox", set("rope_theta", 500.0), ConfigFile, "rope_theta 500 and rotary_emb_base 10000 differ"},
		{"neox eps", "gpt_neox", set("layer_norm_eps", 0.0), ConfigFile, "layer_norm_eps 0 must be positive"},
		{"neox width", "gpt_neox", set("intermediate_size", 32), WeightsFile, `"gpt_neox.layers.0.mlp.dense_h_to_4h.weight" has shape [64 16], want [32 16]`},
		{"neox arch", "gpt_neox", set("architectures", []string{"LlamaForCausalLM"}), ConfigFile, `architecture "LlamaForCausalLM" is not supported`},
		{"llama act", "llama", set("hidden_act", "gelu"), ConfigFile, `hidden_act "gelu" is not supported`},
		{"llama head_dim", "llama", set("head_dim", 8), ConfigFile, "head_dim 8 is not supported"},
		{"llama kv", "llama", set("num_key_value_heads", 3), ConfigFile, "num_key_value_heads 3 does not divide num_attention_heads 4"},
		{"llama linear rope", "llama", set("rope_scaling", map[string]any{"rope_type": "linear", "factor": 2.0}), ConfigFile, "only rope_type llama3"},
		{"llama yarn rope", "llama", set("rope_scaling", map[string]any{"type": "yarn", "factor": 2.0}), ConfigFile, "only rope_type llama3"},
		{"llama3 incomplete", "llama", set("rope_scaling", map[string]any{"rope_type": "llama3", "factor": 8.0}), ConfigFile, "llama3 needs"},
		{"llama3 extra key", "llama", set("rope_scaling", map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 16, "attention_factor": 2.0}), ConfigFile, `key "attention_factor"`},
		{"llama bias missing", "llama", set("attention_bias", true), WeightsFile, `"model.layers.0.self_attn.q_proj.bias" is missing`},
		{"llama eps", "llama", set("rms_norm_eps", -1.0), ConfigFile, "rms_norm_eps -1 must be positive"},
		{"llama odd head", "llama", func(c map[string]any) { c["hidden_size"] = 12; c["head_dim"] = 3 }, ConfigFile, "head size 3 is odd"},
		{"qwen2 sliding", "qwen2", set("use_sliding_window", true), ConfigFile, "use_sliding_window true is not supported"},
		{"mistral window", "mistral", set("sliding_window", 4), ConfigFile, "sliding_window 4 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := llamaCfg
			switch tc.mt {
			case "gpt_neox":
				cfg = neoxCfg
			case "qwen2":
				cfg = qwenCfg
			}
			dir, _ := familyDir(t, tc.mt, cfg)
			rewrite(t, dir, nil, tc.cmut)
			_, err := Load(dir)
			path := filepath.Join(dir, tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line naming %s with %q", err, path, tc.want)
			}
		})
	}
	// A mistral sliding window at least the context, and Llama's buffers, load.
	dir, _ := familyDir(t, "mistral", llamaCfg)
	rewrite(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
		return append(ts, safetensors.Floats("model.layers.1.self_attn.rotary_emb.inv_freq", "F32", []int{2}, []float32{1, 0.01}))
	}, set("sliding_window", 12))
	if _, err := Load(dir); err != nil {
		t.Errorf("mistral with sliding_window = context and an inv_freq buffer: %v", err)
	}
	// Write refuses a config of another family.
	if err := Write(t.TempDir(), "gpt2", llamaCfg, make([]float32, model.NumParams(llamaCfg)), "F32"); err == nil {
		t.Error("Write of a llama config as gpt2 succeeded")
	}
	if err := Write(t.TempDir(), "llama", qwenCfg, make([]float32, model.NumParams(qwenCfg)), "F32"); err == nil {
		t.Error("Write of q/k/v-only biases as llama succeeded")
	}
}

package hfmodel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

var tinyCfg = model.Config{V: 50, T: 12, C: 8, L: 2, H: 2, Tied: true}

// tinyDir writes a GPT-2 directory for cfg with parameters i·0.001 and
// returns its path and the parameters.
func tinyDir(t *testing.T, cfg model.Config, dtype string) (string, []float32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	p := make([]float32, model.NumParams(cfg))
	for i := range p {
		p[i] = float32(i%997) * 0.001
	}
	if err := Write(dir, "gpt2", cfg, p, dtype); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

func TestWriteLoadRoundTrip(t *testing.T) {
	for _, cfg := range []model.Config{tinyCfg, {V: 7, T: 3, C: 6, L: 1, H: 3}} {
		dir, p := tinyDir(t, cfg, "F32")
		m, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Config != cfg || !slices.Equal(m.Params, p) || m.DType != "F32" || m.Family != "gpt2" {
			t.Fatalf("%+v: round trip differs (config %+v dtype %s)", cfg, m.Config, m.DType)
		}
		// The written config.json is transformers' GPT2Config.
		var c map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		json.Unmarshal(b, &c)
		if c["model_type"] != "gpt2" || c["n_embd"] != float64(cfg.C) || c["activation_function"] != "gelu_new" ||
			c["tie_word_embeddings"] != cfg.Tied || c["torch_dtype"] != "float32" {
			t.Errorf("config.json %s", b)
		}
	}
	// F16: the weights come back rounded to F16, and writing them again in
	// F16 gives the same bytes.
	dir, p := tinyDir(t, tinyCfg, "F16")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range p {
		if want := safetensors.F16ToFloat32(safetensors.Float32ToF16(v)); m.Params[i] != want {
			t.Fatalf("param %d = %v, want %v", i, m.Params[i], want)
		}
	}
	again := filepath.Join(t.TempDir(), "again")
	if err := Write(again, "gpt2", m.Config, m.Params, "F16"); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	b, _ := os.ReadFile(filepath.Join(again, WeightsFile))
	if string(a) != string(b) {
		t.Error("F16 → float32 → F16 changed model.safetensors")
	}
}

// rewrite rewrites dir's weights through mut (names, tensors) and config.json through cmut.
func rewrite(t *testing.T, dir string, mut func(ts []safetensors.Tensor) []safetensors.Tensor, cmut func(c map[string]any)) {
	t.Helper()
	if mut != nil {
		f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), mut(slices.Clone(f.Tensors)), f.Meta); err != nil {
			t.Fatal(err)
		}
	}
	if cmut != nil {
		var c map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		json.Unmarshal(b, &c)
		cmut(c)
		b, _ = json.Marshal(c)
		os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
	}
}

func set(k string, v any) func(c map[string]any) { return func(c map[string]any) { c[k] = v } }

func TestLoadErrors(t *testing.T) {
	rename := func(from, to string) func(ts []safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == from {
					ts[i].Name = to
				}
			}
			return ts
		}
	}
	drop := func(name string) func(ts []safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			return slices.DeleteFunc(ts, func(x safetensors.Tensor) bool { return x.Name == name })
		}
	}
	add := func(x safetensors.Tensor) func(ts []safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor { return append(ts, x) }
	}
	C, V := tinyCfg.C, tinyCfg.V
	for _, tc := range []struct {
		name string
		mut  func(ts []safetensors.Tensor) []safetensors.Tensor
		cmut func(c map[string]any)
		file string // the file the error must name
		want string
	}{
		{"model_type", nil, set("model_type", "bloom"), ConfigFile, `model_type "bloom" is not supported (supported: gpt2, gpt_neox, llama, mistral, qwen2)`},
		{"no model_type", nil, func(c map[string]any) { delete(c, "model_type") }, ConfigFile, "no model_type"},
		{"architecture", nil, set("architectures", []string{"GPT2DoubleHeadsModel"}), ConfigFile, `architecture "GPT2DoubleHeadsModel" is not supported`},
		{"activation", nil, set("activation_function", "relu"), ConfigFile, `activation_function "relu" is not supported`},
		{"exact gelu", nil, set("activation_function", "gelu"), ConfigFile, `activation_function "gelu" is not supported`},
		{"inverse layer idx", nil, set("scale_attn_by_inverse_layer_idx", true), ConfigFile, "scale_attn_by_inverse_layer_idx true is not supported"},
		{"reorder", nil, set("reorder_and_upcast_attn", true), ConfigFile, "reorder_and_upcast_attn true"},
		{"cross attention", nil, set("add_cross_attention", true), ConfigFile, "add_cross_attention true"},
		{"no scale", nil, set("scale_attn_weights", false), ConfigFile, "scale_attn_weights false"},
		{"eps", nil, set("layer_norm_epsilon", 1e-6), ConfigFile, "layer_norm_epsilon 1e-06 is not supported"},
		{"n_inner", nil, set("n_inner", 3*C), ConfigFile, "n_inner 24 is not supported"},
		{"pruned", nil, set("pruned_heads", map[string]any{"0": []int{1}}), ConfigFile, "pruned_heads"},
		{"n_embd string", nil, set("n_embd", "8"), ConfigFile, "n_embd"},
		{"n_layer huge", nil, set("n_layer", 100000000), ConfigFile, "n_layer 100000000 must be an integer in [1, 4096]"},
		{"n_layer beyond tensors", nil, set("n_layer", 4000), ConfigFile, "n_layer 4000 needs 48000 block tensors"},
		{"n_embd huge", nil, set("n_embd", 1e9), ConfigFile, "must be an integer"},
		{"heads", nil, set("n_head", 3), ConfigFile, "divisible by heads"},
		{"n_layer 3", nil, set("n_layer", 3), ConfigFile, "needs 36 block tensors"},
		{"n_layer 1", nil, set("n_layer", 1), WeightsFile, `tensor "h.1.ln_1.weight" is not a gpt2 parameter`},
		{"width", nil, set("n_embd", 16), WeightsFile, `tensor "wte.weight" has shape [50 8], want [50 16]`},
		{"untied without head", nil, set("tie_word_embeddings", false), WeightsFile, `tensor "lm_head.weight" is missing (config.json has tie_word_embeddings false)`},
		{"missing", drop("h.0.mlp.c_fc.bias"), nil, WeightsFile, `tensor "h.0.mlp.c_fc.bias" is missing`},
		{"unknown", rename("ln_f.bias", "ln_f.beta"), nil, WeightsFile, `tensor "ln_f.beta" is not a gpt2 parameter`},
		{"both prefixes", add(safetensors.Floats("transformer.wpe.weight", "F32", []int{12, C}, make([]float32, 12*C))), nil, WeightsFile, "stored twice"},
		{"int dtype", func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == "ln_f.bias" {
					ts[i].DType = "I32"
				}
			}
			return ts
		}, nil, WeightsFile, `"ln_f.bias" has dtype I32`},
		{"tied head differs", add(safetensors.Floats("lm_head.weight", "F32", []int{V, C}, make([]float32, V*C))), nil, WeightsFile, "differs from wte.weight"},
		{"tied head shape", add(safetensors.Floats("lm_head.weight", "F32", []int{V, C + 1}, make([]float32, V*(C+1)))), nil, WeightsFile, "want [50 8]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := tinyDir(t, tinyCfg, "F32")
			rewrite(t, dir, tc.mut, tc.cmut)
			_, err := Load(dir)
			path := filepath.Join(dir, tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line naming %s with %q", err, path, tc.want)
			}
			if _, _, err2 := Inspect(dir); err2 == nil && !strings.Contains(tc.want, "differs from wte") {
				t.Errorf("Inspect accepted what Load refuses")
			}
		})
	}
	// A tied checkpoint that stores the head as a copy of wte loads, and
	// buffers with or without a prefix are skipped.
	dir, p := tinyDir(t, tinyCfg, "F32")
	rewrite(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
		ts = append(ts, safetensors.Floats("lm_head.weight", "F32", []int{V, C}, p[:V*C]))
		ts = append(ts, safetensors.Tensor{Name: "h.1.attn.bias", DType: "BOOL", Shape: []int{2}, Data: []byte{1, 0}})
		return append(ts, safetensors.Floats("h.0.attn.masked_bias", "F32", nil, []float32{-1e4}))
	}, nil)
	if _, err := Load(dir); err != nil {
		t.Fatalf("tied copy of the head and buffers: %v", err)
	}
	// Directories without weights.
	empty := t.TempDir()
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no config.json") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(empty, ConfigFile), []byte(`{"model_type":"gpt2"}`), 0o644)
	os.WriteFile(filepath.Join(empty, "pytorch_model.bin"), nil, 0o644)
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "only safetensors weights are read") {
		t.Errorf("pytorch_model.bin only: %v", err)
	}
	os.WriteFile(filepath.Join(empty, ConfigFile), []byte(`[1]`), 0o644)
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("config not an object: %v", err)
	}
}

// TestSharded splits a directory's weights into two shards with an index,
// as save_pretrained does for large models, with the "transformer." prefix.
func TestSharded(t *testing.T) {
	dir, p := tinyDir(t, tinyCfg, "BF16")
	f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, WeightsFile))
	wm := map[string]string{}
	var s1, s2 []safetensors.Tensor
	for i, x := range f.Tensors {
		x.Name = "transformer." + x.Name
		if i < len(f.Tensors)/2 {
			s1 = append(s1, x)
			wm[x.Name] = "model-00001-of-00002.safetensors"
		} else {
			s2 = append(s2, x)
			wm[x.Name] = "model-00002-of-00002.safetensors"
		}
	}
	safetensors.WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), s1, f.Meta)
	safetensors.WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), s2, f.Meta)
	writeIndex := func(wm map[string]string) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1}, "weight_map": wm})
		os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644)
	}
	writeIndex(wm)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range p {
		if want := bf16(v); m.Params[i] != want {
			t.Fatalf("param %d = %v, want %v", i, m.Params[i], want)
		}
	}
	for _, tc := range []struct {
		edit func(wm map[string]string)
		want string
	}{
		{func(wm map[string]string) { wm["transformer.wte.weight"] = "model-00002-of-00002.safetensors" }, "where the index puts it"},
		{func(wm map[string]string) { delete(wm, "transformer.ln_f.bias") }, "is not listed for this shard"},
		{func(wm map[string]string) { wm["transformer.wte.weight"] = "../x.safetensors" }, "is not a .safetensors file name"},
		{func(wm map[string]string) { wm["transformer.wte.weight"] = "model-00003-of-00002.safetensors" }, "no such file"},
	} {
		w2 := map[string]string{}
		for k, v := range wm {
			w2[k] = v
		}
		tc.edit(w2)
		writeIndex(w2)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("index edit: err %v, want %q", err, tc.want)
		}
	}
}

func bf16(v float32) float32 {
	b := safetensors.EncodeFloat32s("BF16", []float32{v})
	out := make([]float32, 1)
	safetensors.DecodeFloat32s(out, "BF16", b)
	return out[0]
}

// FuzzConfig fuzzes config.json next to valid tiny weights: Load must fail
// with an error or return parameters of its config's size, never panic or
// allocate from a size the weights do not back.
func FuzzConfig(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "m")
	p := make([]float32, model.NumParams(tinyCfg))
	if err := Write(dir, "gpt2", tinyCfg, p, "F16"); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	f.Add(good)
	f.Add([]byte(`{"model_type":"gpt2","n_layer":100000000,"n_embd":8,"n_head":2,"n_positions":12,"vocab_size":50}`))
	f.Add([]byte(`{"model_type":"gpt2","n_layer":2,"n_embd":1e9,"n_head":2,"n_positions":12,"vocab_size":50}`))
	f.Add([]byte(`{"model_type":"gpt2","n_layer":2,"n_embd":8,"n_head":2,"n_positions":12,"vocab_size":50,"n_inner":null,"architectures":null}`))
	f.Fuzz(func(t *testing.T, cfg []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if m.Config != tinyCfg || len(m.Params) != len(p) {
			t.Fatalf("config %s loaded as %+v with %d params", cfg, m.Config, len(m.Params))
		}
	})
}

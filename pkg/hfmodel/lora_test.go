package hfmodel

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// TestLoRASites: peft's target matching for every family (suffix after a
// dot, GPT-2's c_proj selecting both projections, a regular expression),
// the row blocks of the fused tensors, and the refusals.
func TestLoRASites(t *testing.T) {
	gpt2 := model.Config{V: 11, T: 8, C: 8, L: 2, H: 2, Tied: true}
	llama := model.Config{V: 11, T: 8, C: 8, L: 1, H: 2, KV: 1, FF: 12, Arch: model.ArchLlama, Tied: true}
	neox := model.Config{V: 11, T: 8, C: 8, L: 1, H: 2, Arch: model.ArchNeoX}
	for _, tc := range []struct {
		family string
		cfg    model.Config
		lc     LoRAConfig
		want   []string // site: name tensor row0 out in
	}{
		{"gpt2", gpt2, LoRAConfig{Modules: []string{"c_attn"}}, []string{
			"transformer.h.0.attn.c_attn h.0.attn.qkv.w 0 24 8", "transformer.h.1.attn.c_attn h.1.attn.qkv.w 0 24 8"}},
		{"gpt2", gpt2, LoRAConfig{Modules: []string{"c_proj"}}, []string{
			"transformer.h.0.attn.c_proj h.0.attn.proj.w 0 8 8", "transformer.h.0.mlp.c_proj h.0.mlp.proj.w 0 8 32",
			"transformer.h.1.attn.c_proj h.1.attn.proj.w 0 8 8", "transformer.h.1.mlp.c_proj h.1.mlp.proj.w 0 8 32"}},
		{"gpt2", gpt2, LoRAConfig{Modules: []string{"mlp.c_proj", "c_fc"}}, []string{
			"transformer.h.0.mlp.c_fc h.0.mlp.fc.w 0 32 8", "transformer.h.0.mlp.c_proj h.0.mlp.proj.w 0 8 32",
			"transformer.h.1.mlp.c_fc h.1.mlp.fc.w 0 32 8", "transformer.h.1.mlp.c_proj h.1.mlp.proj.w 0 8 32"}},
		{"gpt2", gpt2, LoRAConfig{Pattern: `.*\.1\.attn\.c_attn`}, []string{"transformer.h.1.attn.c_attn h.1.attn.qkv.w 0 24 8"}},
		{"llama", llama, LoRAConfig{Modules: []string{"q_proj", "k_proj", "v_proj", "up_proj"}}, []string{
			"model.layers.0.self_attn.q_proj h.0.attn.qkv.w 0 8 8", "model.layers.0.self_attn.k_proj h.0.attn.qkv.w 8 4 8",
			"model.layers.0.self_attn.v_proj h.0.attn.qkv.w 12 4 8", "model.layers.0.mlp.up_proj h.0.mlp.fc.w 12 12 8"}},
		{"gpt_neox", neox, LoRAConfig{Modules: []string{"query_key_value", "dense"}}, []string{
			"gpt_neox.layers.0.attention.query_key_value h.0.attn.qkv.w 0 24 8", "gpt_neox.layers.0.attention.dense h.0.attn.proj.w 0 8 8"}},
	} {
		got, err := LoRASites(tc.family, tc.cfg, tc.lc)
		if err != nil {
			t.Errorf("%s %+v: %v", tc.family, tc.lc, err)
			continue
		}
		var s []string
		for _, x := range got {
			s = append(s, strings.Join([]string{x.Name, x.Tensor, strconv.Itoa(x.Row0), strconv.Itoa(x.Out), strconv.Itoa(x.In)}, " "))
		}
		if strings.Join(s, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s %+v:\n%s\nwant\n%s", tc.family, tc.lc, strings.Join(s, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	for _, lc := range []LoRAConfig{{Modules: []string{"q_proj"}}, {Modules: []string{"wte"}}, {Modules: []string{"ln_1"}}, {}, {Pattern: "nothing"}, {Pattern: "("}} {
		if _, err := LoRASites("gpt2", gpt2, lc); err == nil {
			t.Errorf("gpt2 %+v accepted", lc)
		}
	}
}

// TestLoRAFilesRefused: adapter_config.json settings the model does not
// implement and adapter_model.safetensors contents that do not fit are one
// error naming the file.
func TestLoRAFilesRefused(t *testing.T) {
	cfg := model.Config{V: 11, T: 8, C: 8, L: 1, H: 2, Tied: true}
	m := model.New[float32](cfg)
	good := `{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["c_attn"], "bias": "none", "use_dora": false, "rank_pattern": {}}`
	A, B := make([]float32, 2*8), make([]float32, 24*2)
	okTensors := []safetensors.Tensor{
		safetensors.F32("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", []int{2, 8}, A),
		safetensors.F32("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", []int{24, 2}, B)}
	for _, tc := range []struct {
		name, config string
		tensors      []safetensors.Tensor
		want         string
	}{
		{"ok", good, okTensors, ""},
		{"ia3", strings.Replace(good, `"LORA"`, `"IA3"`, 1), okTensors, "peft_type"},
		{"bias", strings.Replace(good, `"none"`, `"all"`, 1), okTensors, "bias"},
		{"dora", strings.Replace(good, `"use_dora": false`, `"use_dora": true`, 1), okTensors, "use_dora"},
		{"rank_pattern", strings.Replace(good, `{}`, `{"c_attn": 4}`, 1), okTensors, "rank_pattern"},
		{"r", strings.Replace(good, `"r": 2`, `"r": 0`, 1), okTensors, "r 0"},
		{"all-linear", strings.Replace(good, `["c_attn"]`, `"all-linear"`, 1), okTensors, "target_modules"},
		{"unknown module", strings.Replace(good, `c_attn`, `q_proj`, 1), okTensors, "q_proj"},
		{"shape", good, []safetensors.Tensor{okTensors[0], safetensors.F32(okTensors[1].Name, []int{2, 24}, B)}, "shape"},
		{"missing", good, okTensors[:1], "no tensor"},
		{"extra", good, append(slices2(okTensors), safetensors.F32("base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight", []int{2, 8}, A)), "not an adapter"},
		{"json", `{"peft_type": `, okTensors, AdapterConfigFile},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := safetensors.WriteFile(filepath.Join(dir, AdapterWeightsFile), tc.tensors, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadLoRA(dir, "gpt2", m)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: error %v, want one line containing %q", tc.name, err, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), dir):
			t.Errorf("%s: error %v does not name the file", tc.name, err)
		}
	}
}

func slices2(x []safetensors.Tensor) []safetensors.Tensor {
	return append([]safetensors.Tensor(nil), x...)
}

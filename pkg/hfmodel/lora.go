package hfmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"entangle/internal/atomicfile"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// LoRA adapters in the peft library's layout (PeftModel.save_pretrained /
// from_pretrained): a directory with
//
//	adapter_config.json         peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha,
//	                            target_modules, base_model_name_or_path, bias "none",
//	                            lora_dropout, fan_in_fan_out (true for GPT-2's Conv1D)
//	adapter_model.safetensors   base_model.model.<module>.lora_A.weight (r, in)
//	                            base_model.model.<module>.lora_B.weight (out, r)
//
// <module> is the module's path in the transformers model (GPT2LMHeadModel:
// transformer.h.l.attn.c_attn; GPTNeoXForCausalLM:
// gpt_neox.layers.l.attention.query_key_value; LlamaForCausalLM and the
// like: model.layers.l.self_attn.q_proj). A target module name selects, as
// in peft, every module whose path equals it or ends with "." + it; a
// target_modules string is a regular expression the whole path must match.
// Only the blocks' projections can be adapted:
//
//	gpt2       c_attn (the fused q|k|v matrix, as peft adapts it: one A, one B of 3C rows),
//	           c_proj (both attn.c_proj and mlp.c_proj, as in peft; attn.c_proj or
//	           mlp.c_proj for one of them), c_fc
//	gpt_neox   query_key_value (fused, one adapter; B's rows in the stored per-head
//	           order q, k, v of head 0, head 1, …), dense, dense_h_to_4h, dense_4h_to_h
//	llama …    q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj
//
// In every family A is (r, in) and B is (out, r) with in and out those of
// the function y = W·x, so for GPT-2's Conv1D (stored [in, out]) peft's
// delta (B·A)ᵀ is added to the stored matrix: fan_in_fan_out true. The
// model adapts the matching row block of its own tensor (model.LoRASite).

// Adapter files of a peft LoRA directory.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// LoRAConfig is what adapter_config.json says about the adapters.
type LoRAConfig struct {
	R       int
	Alpha   float64
	Modules []string // target_modules (a list), or one regular expression in Pattern
	Pattern string
	Base    string // base_model_name_or_path
}

// loraSite is one adaptable module of a family's table.
type loraSite struct {
	site  model.LoRASite
	heads int // > 0: B's stored rows are grouped by head (GPT-NeoX)
}

// modulePrefix is the path of the family's decoder in its causal-LM class.
func modulePrefix(fam *Family) string {
	if len(fam.Prefixes) > 0 {
		return fam.Prefixes[0]
	}
	return ""
}

// LoRASites returns the sites of the modules of a modelType model of cfg
// that the targets select (peft's matching, above), in table order; an
// error when a target selects nothing or a selected module cannot be
// adapted.
func LoRASites(modelType string, cfg model.Config, lc LoRAConfig) ([]model.LoRASite, error) {
	ls, err := loraSites(modelType, cfg, lc)
	if err != nil {
		return nil, err
	}
	out := make([]model.LoRASite, len(ls))
	for i, s := range ls {
		out[i] = s.site
	}
	return out, nil
}

func loraSites(modelType string, cfg model.Config, lc LoRAConfig) ([]loraSite, error) {
	fam, ok := families[modelType]
	if !ok {
		return nil, fmt.Errorf("hfmodel: model_type %q is not supported", modelType)
	}
	var re *regexp.Regexp
	if lc.Pattern != "" {
		var err error
		if re, err = regexp.Compile(`^(?:` + lc.Pattern + `)$`); err != nil {
			return nil, fmt.Errorf("target_modules %q: %v", lc.Pattern, err)
		}
	} else if len(lc.Modules) == 0 {
		return nil, errors.New("no target modules")
	}
	byName := map[string]model.Tensor{}
	for _, t := range model.Tensors(cfg) {
		byName[t.Name] = t
	}
	used := make([]bool, len(lc.Modules))
	var out []loraSite
	known := map[string]bool{}
	for _, mp := range fam.Table(cfg) {
		path, isW := strings.CutSuffix(mp.HF, ".weight")
		t := byName[mp.Ours]
		if !isW || len(mp.Shape) != 2 || !strings.HasPrefix(mp.Ours, "h.") {
			continue
		}
		path = modulePrefix(fam) + path
		known[path[strings.LastIndexByte(path, '.')+1:]] = true
		match := re != nil && re.MatchString(path)
		for i, m := range lc.Modules {
			if path == m || strings.HasSuffix(path, "."+m) {
				match, used[i] = true, true
			}
		}
		if !match {
			continue
		}
		rows := mp.Shape[0]
		if mp.Transpose {
			rows = mp.Shape[1]
		}
		out = append(out, loraSite{model.LoRASite{Name: path, Tensor: mp.Ours, Row0: mp.Row0, Out: rows, In: t.Shape[1]}, mp.Heads})
	}
	for i, m := range lc.Modules {
		if !used[i] {
			var names []string
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("target module %q matches no projection of a %s model (it has %s)", m, modelType, strings.Join(names, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("target_modules %q matches no projection of a %s model", lc.Pattern, modelType)
	}
	return out, nil
}

// peftName is the stored name of a site's A or B ("lora_A" or "lora_B").
func peftName(site, which string) string { return "base_model.model." + site + "." + which + ".weight" }

// WriteLoRA writes the adapters a of a modelType model as a peft LoRA
// directory (adapter_config.json with lc's targets and base, and
// adapter_model.safetensors in F32), each file atomically. a's sites must
// be LoRASites(modelType, cfg, lc).
func WriteLoRA(dir, modelType string, cfg model.Config, lc LoRAConfig, a *model.LoRA[float32]) error {
	ls, err := loraSites(modelType, cfg, lc)
	if err != nil {
		return err
	}
	if len(ls) != len(a.Sites) {
		return errors.New("hfmodel: WriteLoRA: the adapters' sites are not the config's")
	}
	var ts []safetensors.Tensor
	for i, s := range ls {
		if s.site != a.Sites[i] {
			return errors.New("hfmodel: WriteLoRA: the adapters' sites are not the config's")
		}
		A, B := a.AB(a.Params, i)
		if s.heads > 0 {
			hb := make([]float32, len(B))
			toHeads(hb, B, s.heads, a.R)
			B = hb
		}
		ts = append(ts,
			safetensors.F32(peftName(s.site.Name, "lora_A"), []int{a.R, s.site.In}, A),
			safetensors.F32(peftName(s.site.Name, "lora_B"), []int{s.site.Out, a.R}, B))
	}
	var targets any = lc.Modules
	if lc.Pattern != "" {
		targets = lc.Pattern
	}
	ac := map[string]any{
		"peft_type":               "LORA",
		"task_type":               "CAUSAL_LM",
		"base_model_name_or_path": lc.Base,
		"r":                       a.R,
		"lora_alpha":              a.Alpha,
		"target_modules":          targets,
		"lora_dropout":            0.0,
		"fan_in_fan_out":          modelType == "gpt2",
		"bias":                    "none",
		"modules_to_save":         nil,
		"init_lora_weights":       true,
		"inference_mode":          true,
		"use_rslora":              false,
		"use_dora":                false,
		"layers_to_transform":     nil,
		"layers_pattern":          nil,
		"rank_pattern":            map[string]any{},
		"alpha_pattern":           map[string]any{},
		"revision":                nil,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, AdapterWeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ac, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, AdapterConfigFile), append(b, '\n'))
}

// IsLoRADir reports whether dir holds an adapter_config.json.
func IsLoRADir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, AdapterConfigFile))
	return err == nil
}

// ReadLoRAConfig reads dir's adapter_config.json, refusing every setting
// the model does not implement (another peft_type, a bias other than
// "none", rsLoRA, DoRA, per-module ranks or alphas, layers_to_transform,
// modules_to_save). lora_dropout is accepted and ignored: adapters train
// without dropout here.
func ReadLoRAConfig(dir string) (LoRAConfig, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	b, err := readSmall(path)
	if err != nil {
		return LoRAConfig{}, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return LoRAConfig{}, fmt.Errorf("%s: %v", path, err)
	}
	bad := func(format string, a ...any) (LoRAConfig, error) {
		return LoRAConfig{}, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	str := func(k string) (string, bool) {
		var s string
		raw, ok := keys[k]
		if !ok || string(raw) == "null" {
			return "", true
		}
		return s, json.Unmarshal(raw, &s) == nil
	}
	if s, ok := str("peft_type"); !ok || s != "LORA" {
		return bad("peft_type %s, want \"LORA\"", keys["peft_type"])
	}
	if s, ok := str("bias"); !ok || (s != "" && s != "none") {
		return bad("bias %s is not supported (want \"none\")", keys["bias"])
	}
	for _, k := range []string{"use_rslora", "use_dora"} {
		if raw, ok := keys[k]; ok && string(raw) != "false" && string(raw) != "null" {
			return bad("%s %s is not supported", k, raw)
		}
	}
	for _, k := range []string{"rank_pattern", "alpha_pattern"} {
		if raw, ok := keys[k]; ok && string(raw) != "{}" && string(raw) != "null" {
			var m map[string]any
			if json.Unmarshal(raw, &m) != nil || len(m) > 0 {
				return bad("%s %s is not supported (one r and lora_alpha for every module)", k, raw)
			}
		}
	}
	for _, k := range []string{"layers_to_transform", "modules_to_save"} {
		if raw, ok := keys[k]; ok && string(raw) != "null" && string(raw) != "[]" {
			return bad("%s %s is not supported", k, raw)
		}
	}
	var lc LoRAConfig
	if json.Unmarshal(keys["r"], &lc.R) != nil || lc.R < 1 || lc.R > 1<<16 {
		return bad("r %s, want a positive integer", keys["r"])
	}
	lc.Alpha = 8 // peft's default
	if raw, ok := keys["lora_alpha"]; ok {
		if json.Unmarshal(raw, &lc.Alpha) != nil || !(lc.Alpha > 0) {
			return bad("lora_alpha %s, want a positive number", raw)
		}
	}
	raw := keys["target_modules"]
	if json.Unmarshal(raw, &lc.Modules) != nil || len(lc.Modules) == 0 {
		lc.Modules = nil
		if json.Unmarshal(raw, &lc.Pattern) != nil || lc.Pattern == "" || lc.Pattern == "all-linear" {
			return bad("target_modules %s, want a list of module names or a regular expression", raw)
		}
	}
	lc.Base, _ = str("base_model_name_or_path")
	return lc, nil
}

// LoadLoRA reads the peft LoRA directory dir for m, a modelType model,
// returning adapters whose W₀ is m's current parameters (not yet merged).
// Every stored tensor must be one of the sites' lora_A/lora_B with shape
// (r, in) and (out, r); F32, F16 and BF16 are read exactly.
func LoadLoRA(dir, modelType string, m *model.Model[float32]) (*model.LoRA[float32], LoRAConfig, error) {
	lc, err := ReadLoRAConfig(dir)
	if err != nil {
		return nil, lc, err
	}
	cpath := filepath.Join(dir, AdapterConfigFile)
	ls, err := loraSites(modelType, m.Cfg, lc)
	if err != nil {
		return nil, lc, fmt.Errorf("%s: %v", cpath, err)
	}
	sites := make([]model.LoRASite, len(ls))
	for i, s := range ls {
		sites[i] = s.site
	}
	a, err := model.NewLoRA(m, lc.R, lc.Alpha, sites)
	if err != nil {
		return nil, lc, err
	}
	wpath := filepath.Join(dir, AdapterWeightsFile)
	r, err := safetensors.Open(wpath)
	if err != nil {
		return nil, lc, oneLine(err)
	}
	defer r.Close()
	want := map[string][]int{}
	for _, s := range ls {
		want[peftName(s.site.Name, "lora_A")] = []int{lc.R, s.site.In}
		want[peftName(s.site.Name, "lora_B")] = []int{s.site.Out, lc.R}
	}
	for _, in := range r.Tensors {
		shape, ok := want[in.Name]
		if !ok {
			return nil, lc, fmt.Errorf("%s: tensor %s is not an adapter of the targets of %s", wpath, in.Name, AdapterConfigFile)
		}
		if !slices.Equal(in.Shape, shape) {
			return nil, lc, fmt.Errorf("%s: tensor %s has shape %v, want %v", wpath, in.Name, in.Shape, shape)
		}
	}
	for i, s := range ls {
		A, B := a.AB(a.Params, i)
		for _, x := range []struct {
			name string
			dst  []float32
		}{{peftName(s.site.Name, "lora_A"), A}, {peftName(s.site.Name, "lora_B"), B}} {
			if _, ok := r.Info(x.name); !ok {
				return nil, lc, fmt.Errorf("%s: no tensor %s", wpath, x.name)
			}
			if err := r.ReadFloat32s(x.name, x.dst); err != nil {
				return nil, lc, oneLine(err)
			}
		}
		if s.heads > 0 {
			tmp := append([]float32(nil), B...)
			unHead(B, tmp, s.heads, lc.R)
		}
	}
	return a, lc, nil
}

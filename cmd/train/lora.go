package main

import (
	"flag"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/train"
)

// loraFlags are the flags of LoRA fine-tuning (pkg/train lora.go).
type loraFlags struct {
	r       *int
	alpha   *float64
	modules *string
	init    *string
	grad    *string
}

func addLoRAFlags(fs *flag.FlagSet) *loraFlags {
	return &loraFlags{
		r:       fs.Int("lora-r", 0, "train LoRA adapters of `rank` r on -lora-modules of the -init model, frozen (0: train every parameter)"),
		alpha:   fs.Float64("lora-alpha", 0, "LoRA `alpha`: the adapters' scale is alpha/r (default 2·r)"),
		modules: fs.String("lora-modules", "", "LoRA target `modules`, comma-separated, by the model family's Hugging Face names, as peft's target_modules (gpt2: c_attn, c_proj, c_fc; gpt_neox: query_key_value, dense, dense_h_to_4h, dense_4h_to_h; llama, mistral, qwen2: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"),
		init:    fs.String("lora-init", "", "start the adapters from a peft LoRA `directory` (adapter_config.json, adapter_model.safetensors; its r, lora_alpha and target_modules) instead of peft's initialization"),
		grad:    fs.String("lora-grad", train.LoRAGradAll, "`which` gradients a LoRA step forms: all (the full gradient, projected onto the adapters; -mode pref measures every pair with respect to all parameters and, as extra groups, the adapters) or adapters (no base weight gradient: faster, and -mode pref measures every pair with respect to the adapters only, the LoRA papers' setting)"),
	}
}

// resolve returns the LoRA settings of the flags, nil when LoRA is off.
func (f *loraFlags) resolve(set map[string]bool) (*train.LoRAConfig, error) {
	if *f.init != "" {
		for _, name := range []string{"lora-r", "lora-alpha", "lora-modules"} {
			if set[name] {
				return nil, cli.Usagef("-%s conflicts with -lora-init (the adapters' settings are its adapter_config.json's)", name)
			}
		}
		lc, err := train.ReadLoRAInit(*f.init)
		if err != nil {
			return nil, err
		}
		lc.Grad, err = f.gradMode()
		return &lc, err
	}
	if !set["lora-r"] {
		for _, name := range []string{"lora-alpha", "lora-modules", "lora-grad"} {
			if set[name] {
				return nil, cli.Usagef("-%s needs -lora-r", name)
			}
		}
		return nil, nil
	}
	if *f.r < 1 {
		return nil, cli.Usagef("-lora-r must be at least 1, got %d", *f.r)
	}
	g, err := f.gradMode()
	if err != nil {
		return nil, err
	}
	lc := &train.LoRAConfig{R: *f.r, Alpha: *f.alpha, Grad: g}
	if !set["lora-alpha"] {
		lc.Alpha = float64(2 * *f.r)
	}
	for _, m := range strings.Split(*f.modules, ",") {
		if m = strings.TrimSpace(m); m != "" {
			lc.Modules = append(lc.Modules, m)
		}
	}
	if len(lc.Modules) == 0 {
		return nil, cli.Usagef("-lora-r needs -lora-modules (e.g. q_proj,k_proj,v_proj for a Llama model, c_attn for GPT-2)")
	}
	return lc, nil
}

// gradMode returns the LoRAConfig.Grad of -lora-grad ("" for the default, all).
func (f *loraFlags) gradMode() (string, error) {
	switch *f.grad {
	case train.LoRAGradAll:
		return "", nil
	case train.LoRAGradAdapters:
		return train.LoRAGradAdapters, nil
	}
	return "", cli.Usagef("-lora-grad must be %s or %s, got %q", train.LoRAGradAll, train.LoRAGradAdapters, *f.grad)
}

package train

import (
	"fmt"
	"path/filepath"
	"slices"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/runfmt"
)

// LoRA fine-tuning (-lora-r, -lora-alpha, -lora-modules, -lora-init).
//
// The base weights (the -init model) are frozen; the optimizer holds state
// for the adapters only and updates them with the adapter gradient P(g)
// (model.LoRA.Grad) of the step's full gradient g, clipped by its own global
// norm. After each update the model's adapted rows are recomputed as
// W₀ + (α/r)·B·A (model.LoRA.Merge). The reference of -mode pref is the
// model with the adapters disabled (the base weights, restored exactly by
// Unmerge; no second model) unless -ref names another. Adapters start from
// peft's initialization drawn from -seed, or from the peft directory
// -lora-init. With -lora-grad all (the default) every step forms the full
// gradient, and in -mode pref every pair is measured with respect to all
// parameters (the model's groups, the totals) and to the adapter parameters
// (the groups of Of "lora" after them in pairs.arrows). With -lora-grad
// adapters no gradient of a base parameter is formed (model.LoRA.Backward:
// about a third fewer FLOPs per sequence, and the statistics' passes run
// over the adapters only): the step's gradient is the adapters', and in
// -mode pref every statistic, group (the adapter tensors, with Of "") and
// total, and the probes' and -grads vectors, is with respect to the
// adapters only, the authors' setting.
//
// Checkpoints hold the base weights, the adapters ("lora.params", flat F32)
// and the adapters' optimizer state; model.safetensors holds the merged
// weights (the trained policy, usable as -init or -ref of a later stage),
// and the run directory's adapter/ subdirectory (runfmt.AdapterDir) the
// adapters in peft's layout (hfmodel.WriteLoRA), loadable with
// PeftModel.from_pretrained on the base model.

// LoRAConfig holds the settings of -lora.
type LoRAConfig struct {
	R       int      `json:"r"`
	Alpha   float64  `json:"alpha"`
	Modules []string `json:"modules"`        // target modules, by the model family's Hugging Face names
	Init    string   `json:"init,omitempty"` // peft adapter directory to start from ("" = peft's init from Seed)
	Base    string   `json:"base,omitempty"` // base_model_name_or_path written to adapter_config.json
	Grad    string   `json:"grad,omitempty"` // LoRAGradAll ("" too) or LoRAGradAdapters
}

// The values of -lora-grad.
const (
	LoRAGradAll      = "all"      // the full gradient, projected onto the adapters
	LoRAGradAdapters = "adapters" // the adapters' gradient only, no base weight gradient formed
)

// AdaptersOnly reports whether the run forms the adapters' gradient only.
func (lc *LoRAConfig) AdaptersOnly() bool { return lc != nil && lc.Grad == LoRAGradAdapters }

// Validate checks the settings (the modules are checked against the model
// by CheckModules once the model is known).
func (lc *LoRAConfig) Validate() error {
	switch {
	case lc.R < 1:
		return fmt.Errorf("-lora-r must be at least 1, got %d", lc.R)
	case !(lc.Alpha > 0) || isInf(lc.Alpha):
		return fmt.Errorf("-lora-alpha must be > 0, got %v", lc.Alpha)
	case len(lc.Modules) == 0:
		return fmt.Errorf("-lora-modules must name at least one module")
	case lc.Grad != "" && lc.Grad != LoRAGradAll && lc.Grad != LoRAGradAdapters:
		return fmt.Errorf("-lora-grad must be %s or %s, got %q", LoRAGradAll, LoRAGradAdapters, lc.Grad)
	}
	return nil
}

// CheckModules reports target modules that a model of config m lacks.
func (lc *LoRAConfig) CheckModules(m model.Config) error {
	if _, err := lc.sites(m); err != nil {
		return fmt.Errorf("-lora-modules: %v", err)
	}
	return nil
}

// sites returns the adapted projections of a model of config m.
func (lc *LoRAConfig) sites(m model.Config) ([]model.LoRASite, error) {
	return hfmodel.LoRASites(hfmodel.ModelType(m), m, hfmodel.LoRAConfig{R: lc.R, Alpha: lc.Alpha, Modules: lc.Modules})
}

// loraGroups returns the adapter groups of the stream metadata: of the
// adapter vector (Of "lora"), or under -lora-grad adapters the groups of
// the totals' vector (Of "").
func loraGroups(cfg *Config) []runfmt.Group {
	if cfg.LoRA == nil {
		return nil
	}
	sites, err := cfg.LoRA.sites(cfg.Model)
	if err != nil {
		return nil
	}
	of := runfmt.GroupsLoRA
	if cfg.LoRA.AdaptersOnly() {
		of = ""
	}
	var gs []runfmt.Group
	for _, t := range model.LoRATensors(cfg.LoRA.R, sites) {
		gs = append(gs, runfmt.Group{Name: t.Name, Offset: t.Offset, Size: t.Size, Of: of})
	}
	return gs
}

// loraBytes returns the bytes of the adapters of cfg (A) and of the copy of
// the weights' adapted rows (R), float32; 0 for a bad LoRA config.
func loraBytes(cfg *Config) (A, R float64) {
	sites, err := cfg.LoRA.sites(cfg.Model)
	if err != nil {
		return 0, 0
	}
	for _, s := range sites {
		A += float64(cfg.LoRA.R) * float64(s.In+s.Out)
		R += float64(s.In) * float64(s.Out)
	}
	return 4 * A, 4 * R
}

// loraMemory adjusts a MemoryNeed estimate for LoRA: with A adapter
// parameters and R adapted weights (the copy of W₀'s adapted rows), float32,
//
//	parameters  + A + R, − P without -ref in -mode pref (the reference is the base)
//	gradients   + A (the adapter gradient of a step)
//	optimizer   2A AdamW, A SGD with momentum, 0 plain SGD
//	pref        + 2A per lane (the pairs' adapter gradients)
//
// and under -lora-grad adapters every gradient buffer of P values (the
// step's, the pairs' and probes') holds A values instead (the lanes'
// already do: memoryNeed sizes them by A).
func loraMemory(cfg *Config, m *Memory) {
	A, R := loraBytes(cfg)
	if A == 0 {
		return
	}
	m.Params += A + R
	m.Grads += A
	switch {
	case cfg.Optim == OptimSGD && cfg.Momentum == 0:
		m.Optim = 0
	case cfg.Optim == OptimSGD:
		m.Optim = A
	default:
		m.Optim = 2 * A
	}
	if cfg.Mode == ModePref {
		if cfg.Pref == nil || cfg.Pref.Ref == "" {
			m.Params -= 4 * numParams(cfg.Model)
		}
		m.Pref += 2 * A * float64(m.LaneCount)
	}
	if cfg.LoRA.AdaptersOnly() {
		m.Grads -= 4 * numParams(cfg.Model)
		if cfg.Mode == ModePref { // the sums, the update, the probes' gradients: A-sized
			probes := 0.0
			if cfg.Pref != nil {
				probes = float64(cfg.Pref.Probe)
			}
			m.Pref = (4 + 2*probes) * A
		}
	}
}

// ReadLoRAInit reads the settings of a peft adapter directory for -lora-init.
func ReadLoRAInit(dir string) (LoRAConfig, error) {
	lc, err := hfmodel.ReadLoRAConfig(dir)
	if err != nil {
		return LoRAConfig{}, err
	}
	if lc.Pattern != "" {
		return LoRAConfig{}, fmt.Errorf("%s: target_modules is a regular expression; -lora-init needs a list of module names", filepath.Join(dir, hfmodel.AdapterConfigFile))
	}
	return LoRAConfig{R: lc.R, Alpha: lc.Alpha, Modules: lc.Modules, Init: dir, Base: lc.Base}, nil
}

// setupLoRA makes the adapters of a run whose model holds its base weights:
// from the checkpoint on resume, else from -lora-init or peft's init, and
// merges them.
func (r *runner) setupLoRA() error {
	lc := r.cfg.LoRA
	sites, err := lc.sites(r.cfg.Model)
	if err != nil {
		return err
	}
	switch {
	case r.ck != nil:
		if r.lora, err = model.NewLoRA(r.m, lc.R, lc.Alpha, sites); err != nil {
			return err
		}
		if len(r.ck.LoRA) != len(r.lora.Params) {
			return fmt.Errorf("checkpoint: lora.params has %d values, the adapters %d", len(r.ck.LoRA), len(r.lora.Params))
		}
		copy(r.lora.Params, r.ck.LoRA)
	case lc.Init != "":
		a, got, err := hfmodel.LoadLoRA(lc.Init, hfmodel.ModelType(r.cfg.Model), r.m)
		if err != nil {
			return err
		}
		if got.R != lc.R || got.Alpha != lc.Alpha || !slices.Equal(got.Modules, lc.Modules) {
			return fmt.Errorf("-lora-init %s: its r, lora_alpha or target_modules differ from the run's", lc.Init)
		}
		r.lora = a
	default:
		if r.lora, err = model.NewLoRA(r.m, lc.R, lc.Alpha, sites); err != nil {
			return err
		}
		r.lora.Init(r.cfg.Seed)
	}
	r.lora.Merge()
	r.ag = make([]float32, len(r.lora.Params))
	return nil
}

// gradLen is the length of a step's gradient: the adapters' under
// -lora-grad adapters, else the model's.
func (r *runner) gradLen() int {
	if r.cfg.LoRA.AdaptersOnly() {
		return len(r.lora.Params)
	}
	return len(r.m.Params)
}

// apply takes the optimizer step with the full gradient g at rate lr and
// returns the global norm before clipping: of g, or under LoRA of the
// adapter gradient P(g), which then updates the adapters (g is the adapter
// gradient itself under -lora-grad adapters).
func (r *runner) apply(g []float32, lr float64) float64 {
	if r.lora == nil {
		norm := optim.ClipGlobalNorm(g, r.cfg.Clip)
		r.update(r.m.Params, g, lr)
		return norm
	}
	if r.cfg.LoRA.AdaptersOnly() {
		norm := optim.ClipGlobalNorm(g, r.cfg.Clip)
		r.update(r.lora.Params, g, lr)
		r.lora.Merge()
		return norm
	}
	r.lora.GradParallel(r.ag, g)
	norm := optim.ClipGlobalNorm(r.ag, r.cfg.Clip)
	r.update(r.lora.Params, r.ag, lr)
	r.lora.Merge()
	return norm
}

// trainable is the number of parameters the optimizer updates.
func (r *runner) trainable() int {
	if r.lora != nil {
		return len(r.lora.Params)
	}
	return len(r.m.Params)
}

// withBase runs fn with the model's base weights (adapters disabled), then
// merges again (the same bits as before).
func (r *runner) withBase(fn func()) {
	if r.lora == nil {
		fn()
		return
	}
	r.lora.Unmerge()
	defer r.lora.Merge()
	fn()
}

// writeAdapter writes the adapters in peft's layout under the run directory.
func (r *runner) writeAdapter() error {
	lc := r.cfg.LoRA
	return hfmodel.WriteLoRA(filepath.Join(r.opt.Dir, runfmt.AdapterDir), hfmodel.ModelType(r.cfg.Model), r.cfg.Model,
		hfmodel.LoRAConfig{R: lc.R, Alpha: lc.Alpha, Modules: lc.Modules, Base: lc.Base}, r.lora)
}

// notLoRACheckpoint refuses a LoRA run's checkpoint as a starting point or
// reference: its parameters are the frozen base weights and its adapters are
// a separate tensor, so loading it as weights would silently drop the
// adapters. The run's model.safetensors (merged weights) or its adapter/
// directory (-lora-init) are the files to use.
func notLoRACheckpoint(path string, c *Checkpoint) error {
	if len(c.LoRA) == 0 {
		return nil
	}
	return fmt.Errorf("checkpoint %s holds a LoRA run's base weights and adapters apart: start from the run's %s (merged weights) or continue the adapters with -lora-init %s", path, runfmt.ModelFile, runfmt.AdapterDir)
}

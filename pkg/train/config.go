package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/pref"
	"entangle/pkg/runfmt"
)

// Modes of a run (runfmt's names, written into every output's metadata).
const (
	ModeSFT  = runfmt.ModeSFT  // supervised fine-tuning on prompt + chosen
	ModePref = runfmt.ModePref // margin-based preference optimization (pkg/pref)
)

// Optimizers (-optim).
const (
	OptimAdamW = "adamw"
	OptimSGD   = "sgd"
)

// Config is the resolved configuration of a run: everything that decides its
// results. It is echoed as JSON into config.json, the checkpoint metadata
// ("train_config") and every output stream ("config"), and -resume reads it
// back from the checkpoint.
type Config struct {
	Mode   string       `json:"mode"`   // "sft" | "pref"
	Model  model.Config `json:"model"`  // the architecture
	Preset string       `json:"preset"` // the -model preset, "" when the weights come from Init
	Init   string       `json:"init"`   // checkpoint or model file of the initial weights, "" for a fresh Init(Seed)
	Seed   uint64       `json:"seed"`   // model init (stream 0) and data order (stream 1+epoch)

	Optim       string  `json:"optim"`        // "adamw" | "sgd"
	LR          float64 `json:"lr"`           // peak learning rate
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay, or SGD L2 decay
	Momentum    float64 `json:"momentum"`     // SGD momentum
	Warmup      int     `json:"warmup"`       // linear warmup steps
	Decay       string  `json:"decay"`        // "cosine" | "linear" | "constant"
	MinLR       float64 `json:"min_lr"`       // learning rate at the end of the decay
	Clip        float64 `json:"clip"`         // global-norm clipping threshold, 0 = off
	// Adam holds AdamW's β1, β2 and ε when they differ from PyTorch's
	// defaults (optim.DefaultAdam); nil, and absent from the JSON, otherwise.
	Adam *optim.Adam `json:"adam,omitempty"`

	Batch     int `json:"batch"`      // examples (sft) or pairs (pref) per step
	Steps     int `json:"steps"`      // optimizer steps; resolved from Epochs when 0
	Epochs    int `json:"epochs"`     // passes over the training split when Steps is 0
	EvalEvery int `json:"eval_every"` // held-out evaluation every K steps (and at 0 and the end); 0 = only at 0 and the end
	CkptEvery int `json:"ckpt_every"` // checkpoint every K steps (and at the end); 0 = only at the end
	// SaveEvery keeps the weights every K steps as checkpoint-N/model.safetensors
	// (a series for -mode analyze); 0 = never.
	SaveEvery int `json:"save_every,omitempty"`

	// Data is a fingerprint of the dataset (see Fingerprint); -resume refuses
	// other data.
	Data string `json:"data"`

	// Pref holds the preference settings; nil for sft.
	Pref *PrefConfig `json:"pref,omitempty"`

	// LoRA holds the adapter settings (lora.go); nil trains all parameters.
	LoRA *LoRAConfig `json:"lora,omitempty"`
}

// PrefConfig holds the settings of -mode pref.
type PrefConfig struct {
	Ref          string      `json:"ref"`                     // reference model file ("" = Init)
	Loss         string      `json:"loss"`                    // pkg/loss name
	Params       loss.Params `json:"params"`                  // the loss's hyperparameters
	NLL          float64     `json:"nll"`                     // coefficient of the added chosen NLL (loss.WithNLL)
	Normalize    bool        `json:"normalize"`               // pairwise normalized update (loss.Normalized)
	Sparse       string      `json:"sparse"`                  // "" | "oracle" | "learned"
	SparseLambda float64     `json:"sparse_lambda"`           // sparsity weight of -sparse learned
	Probe        int         `json:"probe"`                   // held-out probe pairs (the first N of the test split)
	DumpEvery    int         `json:"dump_every"`              // probe/gradient dumps every K steps, 0 = never
	Grads        string      `json:"grads"`                   // "" | "full" | "sketch:K" | "countsketch:K"
	SketchSeed   uint64      `json:"sketch_seed"`             // seed of the JL sketch
	DumpTrain    bool        `json:"dump_train"`              // also dump the training pairs' gradients
	TokenGrads   int         `json:"token_grads"`             // per-token gradients of the first N probe pairs
	Attrib       bool        `json:"attrib,omitempty"`        // attrib.arrows: probe × training-pair gradient dots at dump steps
	AttribUpdate bool        `json:"attrib_update,omitempty"` // attrib.arrows of the applied update (preconditioned dots, history term)
}

// DefaultConfig returns the defaults of the train command: SFT of the tiny
// preset with AdamW, lr 1e-3, cosine decay to 1e-4 after 10 warmup steps,
// clipping at 1, batches of 16, one epoch.
func DefaultConfig() Config {
	m, _ := model.Preset("tiny")
	return Config{
		Mode: ModeSFT, Model: m, Preset: "tiny", Seed: 1,
		Optim: OptimAdamW, LR: 1e-3, WeightDecay: 0, Momentum: 0,
		Warmup: 10, Decay: "cosine", MinLR: 1e-4, Clip: 1,
		Batch: 16, Epochs: 1, EvalEvery: 50,
	}
}

// AdamParams returns AdamW's β1, β2 and ε: Adam, or PyTorch's defaults when
// it is nil.
func (c *Config) AdamParams() optim.Adam {
	if c.Adam != nil {
		return *c.Adam
	}
	return optim.DefaultAdam()
}

// SetAdam records a as Adam, or nil when a is PyTorch's default (so that a
// run without the flags writes the same configuration as before they
// existed).
func (c *Config) SetAdam(a optim.Adam) {
	c.Adam = nil
	if a != optim.DefaultAdam() {
		c.Adam = &a
	}
}

// Validate reports the first hyperparameter outside its domain, naming the
// flag that sets it. Steps or Epochs must be positive.
func (c *Config) Validate() error {
	switch {
	case c.Mode != ModeSFT && c.Mode != ModePref:
		return fmt.Errorf("-mode must be sft, pref or dist, got %q", c.Mode)
	case c.Optim != OptimAdamW && c.Optim != OptimSGD:
		return fmt.Errorf("-optim must be adamw or sgd, got %q", c.Optim)
	case !(c.LR > 0) || isInf(c.LR):
		return fmt.Errorf("-lr must be > 0, got %v", c.LR)
	case !(c.WeightDecay >= 0) || isInf(c.WeightDecay):
		return fmt.Errorf("-wd must be ≥ 0, got %v", c.WeightDecay)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("-momentum must be in [0, 1), got %v", c.Momentum)
	case c.Momentum != 0 && c.Optim != OptimSGD:
		return fmt.Errorf("-momentum applies to -optim sgd only (AdamW's is -adam-beta1)")
	case c.Adam != nil && c.Optim != OptimAdamW:
		return fmt.Errorf("-adam-beta1, -adam-beta2 and -adam-eps apply to -optim adamw only")
	case c.Warmup < 0:
		return fmt.Errorf("-warmup must be ≥ 0, got %d", c.Warmup)
	case c.Decay != "cosine" && c.Decay != "linear" && c.Decay != "constant":
		return fmt.Errorf("-decay must be cosine, linear or constant, got %q", c.Decay)
	case !(c.MinLR >= 0 && c.MinLR <= c.LR):
		return fmt.Errorf("-min-lr must be in [0, lr=%v], got %v", c.LR, c.MinLR)
	case !(c.Clip >= 0) || isInf(c.Clip):
		return fmt.Errorf("-clip must be ≥ 0 (0 = off), got %v", c.Clip)
	case c.Batch < 1:
		return fmt.Errorf("-batch must be at least 1, got %d", c.Batch)
	case c.LoRA != nil && c.Pref != nil && c.Pref.AttribUpdate:
		return fmt.Errorf("-attrib-update cannot be used with -lora (the adapters' update is not a diagonal step on the model's parameters)")
	case c.Steps < 0:
		return fmt.Errorf("-steps must be ≥ 0, got %d", c.Steps)
	case c.Epochs < 0:
		return fmt.Errorf("-epochs must be ≥ 0, got %d", c.Epochs)
	case c.Steps == 0 && c.Epochs == 0:
		return fmt.Errorf("-steps or -epochs must be positive")
	case c.EvalEvery < 0:
		return fmt.Errorf("-eval-every must be ≥ 0, got %d", c.EvalEvery)
	case c.CkptEvery < 0:
		return fmt.Errorf("-ckpt-every must be ≥ 0, got %d", c.CkptEvery)
	case c.SaveEvery < 0:
		return fmt.Errorf("-save-every must be ≥ 0, got %d", c.SaveEvery)
	}
	if c.Adam != nil {
		a := *c.Adam
		if err := a.Validate(); err != nil {
			return fmt.Errorf("-adam-beta1/-adam-beta2/-adam-eps: %w", err)
		}
	}
	if c.Init == "" {
		if err := c.Model.Validate(); err != nil {
			return fmt.Errorf("model: %w", err)
		}
	}
	if c.LoRA != nil {
		if c.Init == "" {
			return fmt.Errorf("-lora-r needs -init (the base model the adapters are trained on)")
		}
		if err := c.LoRA.Validate(); err != nil {
			return err
		}
	}
	switch {
	case c.Mode == ModePref && c.Pref == nil:
		return fmt.Errorf("-mode pref without its settings")
	case c.Mode == ModePref && c.Init == "":
		return fmt.Errorf("-mode pref needs -init CHECKPOINT (the SFT model, also the default reference)")
	case c.Mode == ModeSFT && c.Pref != nil:
		return fmt.Errorf("-mode sft with preference settings")
	case c.Pref != nil:
		return c.Pref.Validate()
	}
	return nil
}

// Validate reports the first setting of -mode pref outside its domain,
// naming the flag that sets it. The loss's parameters are checked by
// loss.New.
func (p *PrefConfig) Validate() error {
	if _, err := loss.New(p.Loss, p.Params); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "loss: "))
	}
	if _, err := pref.ParseSparse(p.Sparse); err != nil {
		return err
	}
	switch {
	case !(p.NLL >= 0) || isInf(p.NLL):
		return fmt.Errorf("-nll must be ≥ 0, got %v", p.NLL)
	case !(p.SparseLambda >= 0) || isInf(p.SparseLambda):
		return fmt.Errorf("-sparse-lambda must be ≥ 0, got %v", p.SparseLambda)
	case p.Probe < 0 || p.DumpEvery < 0 || p.TokenGrads < 0:
		return fmt.Errorf("-probe, -dump-every and -token-grads must be ≥ 0")
	case p.TokenGrads > p.Probe:
		return fmt.Errorf("-token-grads %d exceeds -probe %d (per-token gradients are of probe pairs)", p.TokenGrads, p.Probe)
	}
	if p.Grads != "" && p.Grads != "full" {
		kind, k, _ := strings.Cut(p.Grads, ":")
		n, err := strconv.Atoi(k)
		if (kind != "sketch" && kind != "countsketch") || err != nil || n < 1 || n > entangle.MaxSketchRows {
			return fmt.Errorf("-grads must be full, sketch:K or countsketch:K with 1 ≤ K ≤ %d, got %q", entangle.MaxSketchRows, p.Grads)
		}
	}
	switch {
	case p.Attrib && (p.Probe == 0 || p.DumpEvery == 0):
		return fmt.Errorf("-attrib needs -probe N > 0 and -dump-every K > 0")
	case p.AttribUpdate && !p.Attrib:
		return fmt.Errorf("-attrib-update needs -attrib")
	case p.AttribUpdate && p.Sparse == "learned":
		return fmt.Errorf("-attrib-update cannot be used with -sparse learned (the gate moves during the gradient pass it repeats)")
	case p.Grads != "" && p.DumpEvery == 0:
		return fmt.Errorf("-grads needs -dump-every K > 0")
	}
	return nil
}

func isInf(x float64) bool { return x > 1e308 || x < -1e308 }

// Schedule returns the learning-rate schedule of c over total steps.
func (c *Config) Schedule(total int) optim.Schedule {
	w := min(c.Warmup, total)
	return optim.Schedule{Warmup: w, Total: total, Peak: c.LR, Min: c.MinLR, Decay: c.Decay}
}

// JSON returns c as compact JSON (the form stored in metadata).
func (c *Config) JSON() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic("train: config does not marshal: " + err.Error())
	}
	return string(b)
}

// RunID returns the run's identifier: the first 8 bytes, in hex, of the
// SHA-256 of the resolved config's JSON.
func (c *Config) RunID() string {
	h := sha256.Sum256([]byte(c.JSON()))
	return hex.EncodeToString(h[:8])
}

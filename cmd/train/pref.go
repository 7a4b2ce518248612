package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/loss"
	"entangle/pkg/train"
)

// lossFlags maps each loss.Params field to its flag.
var lossFlags = []struct {
	field, flag, usage string
}{
	{"Beta", "beta", "loss `β` (inverse temperature; IPO's τ; ORPO's λ)"},
	{"LabelSmoothing", "label-smoothing", "label-flip `ε` (sigmoid, robust, exo_pair, simpo, cpo)"},
	{"Tau", "tau", "discopop's gate temperature `τ`"},
	{"Gamma", "gamma", "simpo's target margin `γ`"},
	{"Alpha", "alpha", "rdpo's length coefficient `α`"},
	{"Lambda", "lambda", "dpop's penalty weight `λ`"},
	{"Delta", "delta", "slic's hinge margin `δ`"},
	{"NLLCoef", "nll-coef", "`c`, the built-in NLL coefficient of cpo, orpo, rrhf, simpo, slic"},
	{"DesirableWeight", "desirable-weight", "kto_pair's `λ_D`"},
	{"UndesirableWeight", "undesirable-weight", "kto_pair's `λ_U`"},
}

// prefFlags holds the -mode pref flags.
type prefFlags struct {
	cfg    train.PrefConfig
	params map[string]*float64 // by loss.Params field name; NaN = not set
	out    *string
}

func addPrefFlags(fs *flag.FlagSet) *prefFlags {
	p := &prefFlags{params: map[string]*float64{}}
	fs.StringVar(&p.cfg.Ref, "ref", "", "pref: reference model `file` or Hugging Face model directory (default: the -init checkpoint)")
	fs.StringVar(&p.cfg.Loss, "loss", "dpo", "pref: loss `name` ("+strings.Join(loss.Names(), ", ")+")")
	for _, f := range lossFlags {
		v := math.NaN()
		p.params[f.field] = &v
		fs.Func(f.flag, "pref: "+f.usage+" (default: the loss's)", func(s string) error {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("not a finite number")
			}
			v = x
			return nil
		})
	}
	fs.Float64Var(&p.cfg.NLL, "nll", 0, "pref: add `COEF` times the chosen response's mean-token NLL (RPO)")
	fs.BoolVar(&p.cfg.Normalize, "normalize", false, "pref: pairwise normalized update w·(g_w/‖g_w‖ − g_l/‖g_l‖)")
	fs.StringVar(&p.cfg.Sparse, "sparse", "", "pref: sparse log-probs over `mode` oracle (contrastive tokens) or learned (a token gate); none (the default) is off")
	fs.Float64Var(&p.cfg.SparseLambda, "sparse-lambda", 0.01, "pref: L1 `weight` of the learned gate")
	fs.IntVar(&p.cfg.Probe, "probe", 0, "pref: `N` held-out probe pairs (the first N of the test split)")
	fs.IntVar(&p.cfg.DumpEvery, "dump-every", 0, "pref: probe rows and gradient dumps every `K` steps (0 = never)")
	fs.StringVar(&p.cfg.Grads, "grads", "", "pref: gradient dumps `full` or sketch:K (none when empty)")
	fs.Uint64Var(&p.cfg.SketchSeed, "sketch-seed", 1, "pref: `seed` of the gradient sketch")
	fs.BoolVar(&p.cfg.DumpTrain, "dump-train", false, "pref: dump the training pairs' gradients too")
	fs.IntVar(&p.cfg.TokenGrads, "token-grads", 0, "pref: per-token gradients of the first `N` probe pairs")
	fs.BoolVar(&p.cfg.Attrib, "attrib", false, "pref: write attrib.arrows, the probe × training-pair gradient dots at dump steps (needs -probe and -dump-every)")
	fs.BoolVar(&p.cfg.AttribUpdate, "attrib-update", false, "pref: with -attrib, attribute the update the optimizer applied (AdamW's or SGD's step: dots with the preconditioned probe gradients and a history term) instead of the raw gradient")
	p.out = fs.String("o", "", "pref: also write the pairs stream to `file` (- is stdout)")
	return p
}

// prefOnly lists the flags that mean nothing for -mode sft.
func prefOnly() []string {
	names := []string{"ref", "loss", "nll", "normalize", "sparse", "sparse-lambda", "probe", "dump-every", "grads", "sketch-seed", "dump-train", "token-grads", "attrib", "attrib-update", "o"}
	for _, f := range lossFlags {
		names = append(names, f.flag)
	}
	return names
}

// resolve returns the pref config: the loss's defaults with the set flags
// applied, validated by loss.New. It warns on stderr for a loss flag the
// chosen loss ignores.
func (p *prefFlags) resolve(env *cli.Env) (*train.PrefConfig, error) {
	c := p.cfg
	params, err := loss.Defaults(c.Loss)
	if err != nil {
		return nil, cli.Usagef("-loss: %v", strings.TrimPrefix(err.Error(), "loss: "))
	}
	used, _ := loss.ParamNames(c.Loss)
	fields := map[string]*float64{
		"Beta": &params.Beta, "LabelSmoothing": &params.LabelSmoothing, "Tau": &params.Tau, "Gamma": &params.Gamma,
		"Alpha": &params.Alpha, "Lambda": &params.Lambda, "Delta": &params.Delta, "NLLCoef": &params.NLLCoef,
		"DesirableWeight": &params.DesirableWeight, "UndesirableWeight": &params.UndesirableWeight,
	}
	for _, f := range lossFlags {
		v := *p.params[f.field]
		if math.IsNaN(v) {
			continue
		}
		if !slices.Contains(used, f.field) {
			cli.Warnf(env.Stderr, env.Name, "-%s is ignored by -loss %s", f.flag, c.Loss)
			continue
		}
		*fields[f.field] = v
	}
	if _, err := loss.New(c.Loss, params); err != nil {
		return nil, cli.Usagef("%v", strings.TrimPrefix(err.Error(), "loss: "))
	}
	c.Params = params
	if c.Sparse == "none" {
		c.Sparse = "" // spelled out for sweeps, whose values cannot be empty
	}
	if err := c.Validate(); err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return &c, nil
}

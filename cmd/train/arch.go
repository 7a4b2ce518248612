package main

import (
	"flag"
	"slices"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/model"
)

// archFlags are the block-kind flags of a model built from scratch (-model
// and its overrides): -arch picks the family of pkg/model's Block table,
// the others are that family's settings (model.Config's fields of the
// same names).
type archFlags struct {
	arch       *string
	kv         *int
	mlp        *int
	rotary     *int
	theta      *float64
	sequential *bool
	qkvBias    *bool
}

// familyFlags are the flags that need -arch neox or llama, with the
// families that take each.
var familyFlags = []struct{ name, archs string }{
	{"kv-heads", model.ArchLlama},
	{"mlp-width", model.ArchNeoX + "," + model.ArchLlama},
	{"rotary-dims", model.ArchNeoX + "," + model.ArchLlama},
	{"rope-theta", model.ArchNeoX + "," + model.ArchLlama},
	{"sequential", model.ArchNeoX},
	{"qkv-bias", model.ArchLlama},
}

func addArchFlags(fs *flag.FlagSet) *archFlags {
	return &archFlags{
		arch:       fs.String("arch", "gpt2", "block `family` of a -model built from scratch: gpt2, neox (GPT-NeoX, Pythia: rotary, parallel residual, erf GELU) or llama (Llama, SmolLM2, Qwen2: RMSNorm, rotary, SwiGLU, grouped-query attention)"),
		kv:         fs.Int("kv-heads", 0, "llama: key/value `heads` (grouped-query attention; a divisor of -heads; default -heads)"),
		mlp:        fs.Int("mlp-width", 0, "neox, llama: MLP hidden `width` (default 4·width)"),
		rotary:     fs.Int("rotary-dims", 0, "neox, llama: rotated `dims` of each head, even (default the head size; pythia rotates a quarter)"),
		theta:      fs.Float64("rope-theta", 0, "neox, llama: rotary `base` (default 10000)"),
		sequential: fs.Bool("sequential", false, "neox: sequential residual (x += attn(ln1 x), then x += mlp(ln2 x)) instead of the parallel one"),
		qkvBias:    fs.Bool("qkv-bias", false, "llama: q, k, v biases (Qwen2)"),
	}
}

// apply sets the block kind of m from the flags (set: the flags given). A
// family preset (pythia-160m, smollm2-135m) takes only its own family's
// settings; a family setting needs a family that has it.
func (f *archFlags) apply(m *model.Config, set map[string]bool) error {
	arch := m.Arch
	if set["arch"] {
		switch *f.arch {
		case "gpt2":
			arch = model.ArchGPT2
		case model.ArchNeoX, model.ArchLlama:
			arch = *f.arch
		default:
			return cli.Usagef("-arch must be gpt2, neox or llama, got %q", *f.arch)
		}
		if m.Arch != model.ArchGPT2 && arch != m.Arch {
			return cli.Usagef("-arch %s conflicts with the -model preset (a %s model)", *f.arch, m.Arch)
		}
	}
	m.Arch = arch
	for _, ff := range familyFlags {
		if set[ff.name] && !contains(ff.archs, arch) {
			return cli.Usagef("-%s needs -arch %s", ff.name, ff.archs)
		}
	}
	for _, o := range []struct {
		dst *int
		v   int
		f   string
	}{{&m.KV, *f.kv, "kv-heads"}, {&m.FF, *f.mlp, "mlp-width"}, {&m.Rotary, *f.rotary, "rotary-dims"}} {
		if set[o.f] {
			if o.v < 1 {
				return cli.Usagef("-%s must be at least 1, got %d", o.f, o.v)
			}
			*o.dst = o.v
		}
	}
	if set["rope-theta"] {
		if !(*f.theta > 0) {
			return cli.Usagef("-rope-theta must be positive, got %v", *f.theta)
		}
		m.RopeTheta = *f.theta
	}
	if set["sequential"] {
		m.Sequential = *f.sequential
	}
	if set["qkv-bias"] {
		m.QKVBias = *f.qkvBias
	}
	return nil // the Config is validated with the run's (the family's own rules)
}

func contains(list, s string) bool { return slices.Contains(strings.Split(list, ","), s) }

// archFlagNames are the flags of archFlags (they conflict with -init).
func archFlagNames() []string {
	names := []string{"arch"}
	for _, ff := range familyFlags {
		names = append(names, ff.name)
	}
	return names
}

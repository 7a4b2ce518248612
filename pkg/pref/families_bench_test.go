package pref

import (
	"fmt"
	"os"
	"testing"
	"time"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/optim"
)

// The model-family comparison (scripts/bench/families.sh): the shapes of
// pythia-160m and SmolLM2-135M (model.Preset) with random weights, the
// workload of the GPT-2 124M comparison (gpt2Batch: B 8 pairs, prompt 32,
// responses of 32 and 96 tokens differing in their first token).

// familyPresets are the real-shape presets the comparison runs.
var familyPresets = []string{"pythia-160m", "smollm2-135m"}

// familyBench skips unless ENTANGLE_BENCH_FAMILIES=1: each of these
// allocates several GB.
func familyBench(b *testing.B) {
	if os.Getenv("ENTANGLE_BENCH_FAMILIES") != "1" {
		b.Skip("set ENTANGLE_BENCH_FAMILIES=1 to run the model-family benchmarks")
	}
}

// familyLoRA is the LoRA setting of the comparison, the authors' TL;DR
// setting: r 64, α 128 on the attention's q, k, v projections.
func familyLoRA(cfg model.Config) hfmodel.LoRAConfig {
	mods := []string{"q_proj", "k_proj", "v_proj"}
	if cfg.Arch == model.ArchNeoX {
		mods = []string{"query_key_value"}
	}
	return hfmodel.LoRAConfig{R: 64, Alpha: 128, Modules: mods}
}

// BenchmarkFamilyStep is one DPO step with exact per-pair statistics (Grad:
// every pair's g_w and g_l, their dots and norms per parameter group, the
// batch gradient) plus AdamW on every parameter, at each family preset.
// Metrics ms/step, sequences/s (2B per step), VmHWM-MB and GFLOP (the
// step's matrix products, stepFLOPs).
func BenchmarkFamilyStep(b *testing.B) {
	familyBench(b)
	for _, name := range familyPresets {
		for _, r := range []int{32, 96} {
			b.Run(fmt.Sprintf("%s/resp=%d", name, r), func(b *testing.B) {
				cfg, err := model.Preset(name)
				if err != nil {
					b.Fatal(err)
				}
				m := model.New[float32](cfg)
				m.Init(1)
				defer m.Close()
				batch := gpt2Batch(cfg, 8, 32, r)
				s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
				opt := optim.NewAdamW[float32](len(m.Params), 0)
				dst := make([]float32, len(m.Params))
				step := func() {
					if _, _, err := s.Grad(dst, batch); err != nil {
						b.Fatal(err)
					}
					opt.Step(m.Params, dst, 1e-5)
				}
				runStep(b, step, len(batch))
				b.ReportMetric(stepFLOPs(cfg, 32, r, len(batch), nil, 0, false)/1e9, "GFLOP")
			})
		}
	}
}

// BenchmarkFamilyLoRA is BenchmarkFamilyStep training LoRA adapters
// (familyLoRA) with the base frozen, in the two modes of train -lora-grad:
// "all" (the full gradient of every pair, statistics with respect to all
// parameters and the adapters: SetLoRA, the adapter projection of the
// batch gradient) and "adapters" (no base weight gradient: SetLoRAOnly);
// AdamW on the adapters, then Merge. Same metrics.
func BenchmarkFamilyLoRA(b *testing.B) {
	familyBench(b)
	for _, name := range familyPresets {
		for _, mode := range []string{"all", "adapters"} {
			for _, r := range []int{32, 96} {
				b.Run(fmt.Sprintf("%s/grad=%s/resp=%d", name, mode, r), func(b *testing.B) {
					cfg, err := model.Preset(name)
					if err != nil {
						b.Fatal(err)
					}
					m := model.New[float32](cfg)
					m.Init(1)
					defer m.Close()
					lc := familyLoRA(cfg)
					sites, err := hfmodel.LoRASites(hfmodel.ModelType(cfg), cfg, lc)
					if err != nil {
						b.Fatal(err)
					}
					a, err := model.NewLoRA(m, lc.R, lc.Alpha, sites)
					if err != nil {
						b.Fatal(err)
					}
					a.Init(1)
					a.Merge()
					batch := gpt2Batch(cfg, 8, 32, r)
					s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
					opt := optim.NewAdamW[float32](len(a.Params), 0)
					var step func()
					if mode == "all" {
						s.SetLoRA(a)
						dst := make([]float32, len(m.Params))
						ag := make([]float32, len(a.Params))
						step = func() {
							if _, _, err := s.Grad(dst, batch); err != nil {
								b.Fatal(err)
							}
							a.GradParallel(ag, dst)
							opt.Step(a.Params, ag, 1e-5)
							a.Merge()
						}
					} else {
						s.SetLoRAOnly(a)
						dst := make([]float32, len(a.Params))
						step = func() {
							if _, _, err := s.Grad(dst, batch); err != nil {
								b.Fatal(err)
							}
							opt.Step(a.Params, dst, 1e-5)
							a.Merge()
						}
					}
					runStep(b, step, len(batch))
					b.ReportMetric(stepFLOPs(cfg, 32, r, len(batch), sites, lc.R, mode == "all")/1e9, "GFLOP")
				})
			}
		}
	}
}

// runStep times step after one warm-up call and reports ms/step, seq/s
// (2·pairs sequences per step) and VmHWM-MB.
func runStep(b *testing.B, step func(), pairs int) {
	step()
	start := time.Now()
	for b.Loop() {
		step()
	}
	ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(b.N)
	b.ReportMetric(ms, "ms/step")
	b.ReportMetric(2*float64(pairs)/ms*1e3, "seq/s")
	b.ReportMetric(vmHWM(), "VmHWM-MB")
}

// stepFLOPs is the floating-point operations of the matrix products of one
// DPO step on pairs pairs of a p-token prompt and r-token responses (2·pairs
// sequences of n = p + r tokens, each forward and backward in full: the
// count of a batched PyTorch step; the Go step also reuses the shared
// prompt's forward, not counted). With W = Σ in·out over every block's
// projections and the LM head at the r response positions:
//
//	forward            2·n·W + 2·r·V·C + 2·n²·C·L          (q·kᵀ and att·v, causal half)
//	backward, inputs   2·n·W + 2·r·V·C + 4·n²·C·L
//	backward, weights  2·n·W + 2·r·V·C                     (not with LoRA sites given)
//	LoRA adapters      Σ_sites 4·n·R·(in+out)              (with sites: model.LoRA.Backward)
//	LoRA, all          + Σ_sites 4·R·in·out per sequence   (with all: the projection of g)
//
// The elementwise work (norms, activations, softmax), the statistics'
// passes over the gradients and the optimizer are memory-bound and not
// counted.
func stepFLOPs(cfg model.Config, p, r, pairs int, sites []model.LoRASite, R int, all bool) float64 {
	n := float64(p + r)
	C, V, L := float64(cfg.C), float64(cfg.V), float64(cfg.L)
	hs := cfg.C / cfg.H
	q3 := float64((cfg.H + 2*cfg.KVHeads()) * hs)
	ff := float64(cfg.MLPWidth())
	fc := ff
	if cfg.Arch == model.ArchLlama {
		fc = 2 * ff
	}
	W := L * (C*q3 + C*C + C*fc + ff*C)
	head := 2 * float64(r) * V * C
	attn := 2 * n * n * C * L
	f := 2*n*W + head + attn
	bi := 2*n*W + head + 2*attn
	bw := 2*n*W + head
	var ad, proj float64
	for _, s := range sites {
		ad += 4 * n * float64(R) * float64(s.In+s.Out)
		proj += 4 * float64(R) * float64(s.In) * float64(s.Out)
	}
	per := f + bi + bw
	switch {
	case sites != nil && all:
		per += proj
	case sites != nil:
		per = f + bi + ad
	}
	return 2 * float64(pairs) * per
}

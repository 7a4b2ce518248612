package pref

import (
	"strconv"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/optim"
)

// BenchmarkLoRAStep compares one DPO step on BenchmarkPrefStep's workload
// (preset S, untied head) training all parameters ("full": Grad, AdamW on
// every parameter) with the same step training LoRA adapters of rank 8 on
// every layer's fused qkv ("lora": Grad with the adapter statistics of
// SetLoRA, the adapter projection of the batch gradient, AdamW on the
// adapters, Merge). Both compute the full-weight gradients (the
// all-parameter statistics need them), so LoRA saves only the optimizer's
// work on the base weights and pays for the adapter projections. Metric:
// ms/step.
func BenchmarkLoRAStep(b *testing.B) {
	cfg, err := model.Preset("S")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Tied = false
	for _, lora := range []bool{false, true} {
		name := "full"
		if lora {
			name = "lora-r8-qkv"
		}
		b.Run(name, func(b *testing.B) {
			m := model.New[float32](cfg)
			m.Init(1)
			batch := benchBatch(cfg)
			s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
			dst := make([]float32, len(m.Params))
			var step func()
			if !lora {
				opt := optim.NewAdamW[float32](len(m.Params), 0)
				step = func() {
					if _, _, err := s.Grad(dst, batch); err != nil {
						b.Fatal(err)
					}
					opt.Step(m.Params, dst, 1e-4)
				}
			} else {
				var sites []model.LoRASite
				for l := range cfg.L {
					p := "h." + strconv.Itoa(l) + "."
					sites = append(sites, model.LoRASite{Name: p + "qkv", Tensor: p + "attn.qkv.w", Out: 3 * cfg.C, In: cfg.C})
				}
				a, err := model.NewLoRA(m, 8, 16, sites)
				if err != nil {
					b.Fatal(err)
				}
				a.Init(1)
				a.Merge()
				s.SetLoRA(a)
				opt := optim.NewAdamW[float32](len(a.Params), 0)
				ag := make([]float32, len(a.Params))
				step = func() {
					if _, _, err := s.Grad(dst, batch); err != nil {
						b.Fatal(err)
					}
					a.GradParallel(ag, dst)
					opt.Step(a.Params, ag, 1e-4)
					a.Merge()
				}
			}
			step()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/step")
		})
	}
}

package pref

import (
	"math/rand/v2"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
)

// BenchmarkPrefStep is one DPO step (Grad) on 16 pairs with a 16-token
// prompt and responses filling the context, differing in their last 4 tokens
// (the PyTorch baseline's shape, /work/shared/pytorch-baseline.md): per pair
// g_w and g_l, their dots and norms per group, and the batch gradient.
func BenchmarkPrefStep(b *testing.B) {
	for _, preset := range []string{"S", "M"} {
		b.Run(preset, func(b *testing.B) {
			cfg, err := model.Preset(preset)
			if err != nil {
				b.Fatal(err)
			}
			m := model.New[float32](cfg)
			m.Init(1)
			rng := rand.New(rand.NewPCG(1, 0))
			const B, prompt, diff = 16, 16, 4
			resp := cfg.T - prompt
			var batch []Pair
			for i := 0; i < B; i++ {
				ex := &prefdata.Example{ID: int64(i)}
				for range prompt {
					ex.Prompt = append(ex.Prompt, rng.Int32N(int32(cfg.V)))
				}
				for k := 0; k < resp; k++ {
					t := rng.Int32N(int32(cfg.V))
					ex.Chosen = append(ex.Chosen, t)
					if k >= resp-diff {
						t = rng.Int32N(int32(cfg.V))
					}
					ex.Rejected = append(ex.Rejected, t)
				}
				ex.ChosenContrastive, ex.RejectedContrastive = prefdata.PositionalFlags(ex.Chosen, ex.Rejected)
				batch = append(batch, Pair{Ex: ex, RefW: -200, RefL: -200})
			}
			s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0)})
			dst := make([]float32, len(m.Params))
			if _, _, err := s.Grad(dst, batch); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := s.Grad(dst, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
		})
	}
}

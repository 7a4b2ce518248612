package model

import (
	"math/rand/v2"

	"entangle/pkg/optim"
	"strconv"
	"testing"
	"time"
)

func randF32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// S-like shapes: T = 64, C = 128, H = 4, V = 256 (one sequence).
const bT, bC, bH, bV = 64, 128, 4, 256

func BenchmarkMatmulForward(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	for _, oc := range []int{3 * bC, 4 * bC} {
		b.Run("OC="+strconv.Itoa(oc), func(b *testing.B) {
			inp, w, bias, out := randF32(rng, bT*bC), randF32(rng, oc*bC), randF32(rng, oc), make([]float32, bT*oc)
			b.ReportAllocs()
			for b.Loop() {
				matmulForward(out, inp, w, bias, bT, bC, oc)
			}
		})
		b.Run("naive/OC="+strconv.Itoa(oc), func(b *testing.B) {
			inp, w, bias, out := randF32(rng, bT*bC), randF32(rng, oc*bC), randF32(rng, oc), make([]float32, bT*oc)
			for b.Loop() {
				matmulForwardNaive(out, inp, w, bias, bT, bC, oc)
			}
		})
	}
}

func BenchmarkMatmulBackward(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	oc := 4 * bC
	inp, w, dout := randF32(rng, bT*bC), randF32(rng, oc*bC), randF32(rng, bT*oc)
	dinp, dw, db := make([]float32, bT*bC), make([]float32, oc*bC), make([]float32, oc)
	b.ReportAllocs()
	for b.Loop() {
		matmulBackward(dinp, dw, db, dout, inp, w, bT, bC, oc)
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	inp, w, bias, out := randF32(rng, bT*bC), randF32(rng, bC), randF32(rng, bC), make([]float32, bT*bC)
	mean, rstd := make([]float32, bT), make([]float32, bT)
	dinp, dw, db := make([]float32, bT*bC), make([]float32, bC), make([]float32, bC)
	b.Run("Forward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			layerNormForward(out, mean, rstd, inp, w, bias, bT, bC)
		}
	})
	b.Run("Backward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			layerNormBackward(dinp, dw, db, out, inp, w, mean, rstd, bT, bC)
		}
	})
}

func BenchmarkAttention(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	qkv, out, att := randF32(rng, bT*3*bC), make([]float32, bT*bC), make([]float32, bH*bT*bT)
	dqkv, datt, dout := make([]float32, bT*3*bC), make([]float32, bH*bT*bT), randF32(rng, bT*bC)
	b.Run("Forward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			attentionForward(out, att, qkv, bT, bC, bH)
		}
	})
	b.Run("Backward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			attentionBackward(dqkv, datt, dout, qkv, att, bT, bC, bH)
		}
	})
}

func BenchmarkGelu(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	N := bT * 4 * bC
	inp, out, dinp := randF32(rng, N), make([]float32, N), make([]float32, N)
	b.Run("Forward", func(b *testing.B) {
		for b.Loop() {
			geluForward(out, inp, N)
		}
	})
	b.Run("Backward", func(b *testing.B) {
		for b.Loop() {
			geluBackward(dinp, inp, out, N)
		}
	})
}

// BenchmarkGeluErf is the exact GELU (geluErf32) and SwiGLU (swiglu32) of
// the families' MLPs, forward and backward, at the size of BenchmarkGelu.
func BenchmarkGeluErf(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	N := bT * 4 * bC
	inp, out, dinp := randF32(rng, N), make([]float32, N), make([]float32, N)
	b.Run("Forward", func(b *testing.B) {
		for b.Loop() {
			geluErf32(out, inp, nil)
		}
	})
	b.Run("Backward", func(b *testing.B) {
		for b.Loop() {
			geluErf32(dinp, inp, out)
		}
	})
	b.Run("SwiGLUForward", func(b *testing.B) {
		for b.Loop() {
			swiglu32(out[:N/2], inp, bT, 2*bC)
		}
	})
	b.Run("SwiGLUBackward", func(b *testing.B) {
		for b.Loop() {
			swigluGrad32(dinp, inp, out[:N/2], bT, 2*bC)
		}
	})
}

func BenchmarkLogProb(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 0))
	R := bT - 16
	logits, probs, lp, dl := randF32(rng, R*bV), make([]float32, R*bV), make([]float32, R), randF32(rng, R)
	targets := make([]int32, R)
	b.Run("Forward", func(b *testing.B) {
		for b.Loop() {
			logProbForward(lp, probs, logits, targets, R, bV)
		}
	})
	b.Run("Backward", func(b *testing.B) {
		for b.Loop() {
			logProbBackward(logits, dl, probs, targets, R, bV)
		}
	})
}

// BenchmarkSFTStep is one SFT step as in the PyTorch baseline's workload: 16
// sequences of T tokens (prompt 16), forward+backward of the mean response
// cross-entropy through AccumulateGrads (dlogp = -1/(16·R)), then one AdamW step.
func BenchmarkSFTStep(b *testing.B) {
	for _, name := range []string{"S", "M"} {
		b.Run(name, func(b *testing.B) {
			cfg, _ := Preset(name)
			m := New[float32](cfg)
			m.Init(1)
			defer m.Close()
			rng := rand.New(rand.NewPCG(2, 0))
			seqs := make([]Seq, 16)
			dl := make([][]float32, 16)
			R := cfg.T - 16
			for i := range seqs {
				seqs[i] = randSeq(rng, cfg.V, cfg.T, 16)
				dl[i] = make([]float32, R)
				for j := range dl[i] {
					dl[i][j] = -1 / float32(16*R)
				}
			}
			g := make([]float32, len(m.Params))
			opt := optim.NewAdamW[float32](len(m.Params), 0.1)
			m.AccumulateGrads(g, seqs, dl) // warm-up: starts the lanes
			clear(g)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				clear(g)
				m.AccumulateGrads(g, seqs, dl)
				opt.Step(m.Params, g, 1e-4)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/step")
		})
	}
}

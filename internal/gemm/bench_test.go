package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the products the model runs per sequence (T rows) at sizes
// S (T=64, C=128, LM head V=256) and M (T=128, C=256, V=512), named op_m_n_k
// (Linears qkv, attn proj, fc, fc proj, head), plus stacked sequences (m=1024)
// and a square 1024 reference, then GPT-2 small's (124M: C=768, T=64 = a
// 32-token prompt and a 32-token response, the tied head V=50257 on the 32
// response rows; BenchmarkGEMM skips the head's three products with -short).
func benchShapes() []struct {
	op      string
	m, n, k int
} {
	type sh = struct {
		op      string
		m, n, k int
	}
	var s []sh
	for _, sz := range []struct{ T, C, V int }{{64, 128, 256}, {128, 256, 512}} {
		T, C := sz.T, sz.C
		lin := [][2]int{{3 * C, C}, {C, C}, {4 * C, C}, {C, 4 * C}, {sz.V, C}} // (OC, IC)
		for _, l := range lin {
			s = append(s, sh{"NT", T, l[0], l[1]}) // out(T,OC) += inp(T,IC)·Wᵀ
		}
		for _, l := range lin {
			s = append(s, sh{"NN", T, l[1], l[0]}) // dinp(T,IC) += dout(T,OC)·W
		}
		for _, l := range lin {
			s = append(s, sh{"TN", l[0], l[1], T}) // dW(OC,IC) += doutᵀ·inp
		}
	}
	s = append(s, sh{"NT", 1024, 768, 256}, sh{"NN", 1024, 256, 1024}, sh{"TN", 1024, 256, 1024}, sh{"NT", 1024, 1024, 1024})
	const T, C, V, R = 64, 768, 50257, 32 // 124M: tokens, width, vocabulary, response rows
	for _, l := range [][2]int{{3 * C, C}, {C, C}, {4 * C, C}, {C, 4 * C}} {
		s = append(s, sh{"NT", T, l[0], l[1]}, sh{"NN", T, l[1], l[0]}, sh{"TN", l[0], l[1], T})
	}
	s = append(s, sh{"NT", R, V, C}, sh{"NN", R, C, V}, sh{"TN", V, C, R})
	return s
}

// BenchmarkGEMM reports GFLOP/s (2mnk per call) of every implementation this
// machine runs, for every shape of benchShapes. Sub-benchmark names are
// op_m_n_k/impl: the implementations of one shape run one after the other, so
// that a change of load on a shared machine affects them alike
// (scripts/bench/gemm.sh compares them side by side).
func BenchmarkGEMM(b *testing.B) {
	for _, sh := range benchShapes() {
		b.Run(fmt.Sprintf("%s_%d_%d_%d", sh.op, sh.m, sh.n, sh.k), func(b *testing.B) {
			for _, name := range Impls() {
				ks := byName(name)
				b.Run(name, func(b *testing.B) {
					transA, transB := sh.op == "TN", sh.op == "NT"
					p := newProblem(rand.New(rand.NewPCG(1, 2)), sh.m, sh.n, sh.k, transA, transB)
					if ks.kern == nil && sh.m*sh.n*sh.k > 1<<26 {
						b.Skip("generic: too slow for this shape")
					}
					if testing.Short() && sh.m*sh.n*sh.k > 1<<30 {
						b.Skip("-short: GPT-2 small's head")
					}
					b.ResetTimer()
					for range b.N {
						ks.run(p.c, p.ldc, p.a, p.lda, transA, p.b, p.ldb, transB, sh.m, sh.n, sh.k)
					}
					b.ReportMetric(2*float64(sh.m)*float64(sh.n)*float64(sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		})
	}
}

package entangle

import (
	"entangle/internal/num"
	"math"
)

// CosineMatrix fills dst (nW, nL), row-major, with the cosines between the
// per-token gradients of the chosen response, gw (nW, P), and of the rejected
// response, gl (nL, P):
//
//	dst[i*nL+j] = ⟨gw_i, gl_j⟩ / (‖gw_i‖ ‖gl_j‖)
//
// (paper §4.2 and §5.2, the token heatmap). An entry involving a zero-norm
// token gradient is NaN; TokenSummarize counts and skips such entries.
// It panics if the slice lengths do not match nW, nL and P. It allocates the
// nW+nL norms.
func CosineMatrix(dst []float64, gw, gl []float32, nW, nL, P int) {
	if nW < 0 || nL < 0 || P < 0 || len(dst) != nW*nL || len(gw) != nW*P || len(gl) != nL*P {
		panic("entangle: CosineMatrix shape mismatch")
	}
	nw := make([]float64, nW+nL)
	nl := nw[nW:]
	for i := range nW {
		nw[i] = math.Sqrt(SumSq(gw[i*P : (i+1)*P]))
	}
	for j := range nL {
		nl[j] = math.Sqrt(SumSq(gl[j*P : (j+1)*P]))
	}
	for i := range nW {
		a := gw[i*P : (i+1)*P]
		for j := range nL {
			den := nw[i] * nl[j]
			if den == 0 {
				dst[i*nL+j] = math.NaN()
				continue
			}
			dst[i*nL+j] = Dot(a, gl[j*P:(j+1)*P]) / den
		}
	}
}

// TokenSummary summarises a token cosine matrix by token kind (paper §4.2:
// contrastive tokens pull the cosine down, shared tokens at aligned positions
// push it towards 1). Each mean skips NaN entries; N counts the entries used.
type TokenSummary struct {
	// Contrastive: pairs (i, j) with chosen token i and rejected token j both
	// contrastive.
	ContrastiveMean float64
	ContrastiveN    int
	// AlignedShared: pairs (i, match[i]) with both tokens shared.
	AlignedSharedMean float64
	AlignedSharedN    int
	// Other: every remaining pair (shared×shared not aligned,
	// contrastive×shared, shared×contrastive).
	OtherMean float64
	OtherN    int
	// NaN is the number of NaN entries skipped.
	NaN int
}

// EndAligned returns the default alignment used by TokenSummarize: chosen
// token i is matched with the rejected token at the same offset from the end
// of its response, j = i − nW + nL, or −1 when there is none. This pairs the
// tokens of a common suffix (e.g. "… positive. I liked it" vs "… negative. I
// liked it") whatever the lengths of the differing parts.
func EndAligned(nW, nL int) []int {
	m := make([]int, nW)
	for i := range m {
		j := i - nW + nL
		if j < 0 || j >= nL {
			j = -1
		}
		m[i] = j
	}
	return m
}

// TokenSummarize summarises the (nW, nL) cosine matrix cos (from
// CosineMatrix) given which chosen and rejected tokens are contrastive
// (contrastW[i], contrastL[j] true) or shared (false). match[i] is the index
// of the rejected token aligned with chosen token i, or −1; nil means
// EndAligned(nW, nL). A pair (i, match[i]) counts as aligned-shared only when
// both tokens are shared; otherwise it falls in Contrastive or Other like any
// pair. Empty categories have NaN means. It panics on shape mismatch or a
// match index out of range.
func TokenSummarize(cos []float64, nW, nL int, contrastW, contrastL []bool, match []int) TokenSummary {
	if nW < 0 || nL < 0 || len(cos) != nW*nL || len(contrastW) != nW || len(contrastL) != nL {
		panic("entangle: TokenSummarize shape mismatch")
	}
	if match == nil {
		match = EndAligned(nW, nL)
	}
	if len(match) != nW {
		panic("entangle: TokenSummarize len(match) != nW")
	}
	var ts TokenSummary
	var sc, ss, so, cc, cs, co float64
	for i := range nW {
		if match[i] < -1 || match[i] >= nL {
			panic("entangle: TokenSummarize match index out of range")
		}
		for j := range nL {
			v := cos[i*nL+j]
			if math.IsNaN(v) {
				ts.NaN++
				continue
			}
			switch {
			case contrastW[i] && contrastL[j]:
				sc, cc = num.Neumaier(sc, cc, v)
				ts.ContrastiveN++
			case j == match[i] && !contrastW[i] && !contrastL[j]:
				ss, cs = num.Neumaier(ss, cs, v)
				ts.AlignedSharedN++
			default:
				so, co = num.Neumaier(so, co, v)
				ts.OtherN++
			}
		}
	}
	mean := func(s, c float64, n int) float64 {
		if n == 0 {
			return math.NaN()
		}
		return (s + c) / float64(n)
	}
	ts.ContrastiveMean = mean(sc, cc, ts.ContrastiveN)
	ts.AlignedSharedMean = mean(ss, cs, ts.AlignedSharedN)
	ts.OtherMean = mean(so, co, ts.OtherN)
	return ts
}

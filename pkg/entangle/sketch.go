package entangle

import (
	"entangle/internal/num"
	"math"
)

// Sketch is a seeded dense Rademacher Johnson–Lindenstrauss projection
// S: R^N → R^K with entries S[k][j] = ±1/√K (related-work §6.3). No K×N
// matrix is stored: the signs of row k, columns 64t … 64t+63, are the 64 bits
// of one counter-based hash of (seed, k, t), so the same seed gives the same
// projection for every vector and every N, and a column's sign depends only on
// its global index. For fixed a, b:
//
//	E⟨Sa,Sb⟩   = ⟨a,b⟩
//	Var⟨Sa,Sb⟩ = (‖a‖²‖b‖² + ⟨a,b⟩² − 2 Σ_i a_i² b_i²) / K   (see SketchVar)
//
// A Sketch is immutable and safe for concurrent use.
type Sketch struct {
	seed  uint64
	mix   uint64 // hash of seed
	k     int
	scale float64 // 1/√K
}

// SketchScheme names the sign-generation scheme of Sketch. Record it with
// the seed and K next to stored sketches: sketches are comparable only if all
// three agree. It changes whenever the signs would.
const SketchScheme = "rademacher-splitmix64-v1"

// MaxSketchRows bounds K so that (row, tile) packs into one 64-bit key.
const MaxSketchRows = 1 << 24

const maxSketchRows = MaxSketchRows

// NewSketch returns the projection to k dimensions with the given seed.
// It panics unless 1 ≤ k ≤ 2^24.
func NewSketch(seed uint64, k int) *Sketch {
	if k < 1 || k > maxSketchRows {
		panic("entangle: NewSketch k out of range")
	}
	return &Sketch{seed: seed, mix: splitmix64(seed), k: k, scale: 1 / math.Sqrt(float64(k))}
}

// K returns the sketch dimension.
func (s *Sketch) K() int { return s.k }

// Seed returns the seed.
func (s *Sketch) Seed() uint64 { return s.seed }

// splitmix64 is the output function of Steele et al.'s SplitMix64 applied to
// x·γ (a bijection of uint64).
func splitmix64(x uint64) uint64 {
	z := x * 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// bits returns the 64 sign bits of row k, columns 64t … 64t+63: bit i set
// means S[k][64t+i] = +1/√K, clear means −1/√K. For a fixed seed the map
// (k, t) → key is injective (k < 2^24, t < 2^40) and splitmix64 is a bijection.
func (s *Sketch) bits(k, t int) uint64 {
	return splitmix64((uint64(k)<<40 | uint64(t)) ^ s.mix)
}

// Entry returns the matrix entry S[row][col] = ±1/√K. It is the slow
// reference of Project.
func (s *Sketch) Entry(row, col int) float64 {
	if row < 0 || row >= s.k || col < 0 || col>>6 >= 1<<40 {
		panic("entangle: Sketch.Entry index out of range")
	}
	if s.bits(row, col>>6)>>(col&63)&1 == 1 {
		return s.scale
	}
	return -s.scale
}

// Project sets dst = S·src (len(dst) = K), the sketch of src with columns
// 0 … len(src)−1. Sums are accumulated in float64 and rounded once to
// float32. It panics if len(dst) != K.
func (s *Sketch) Project(dst []float32, src []float32) {
	if len(dst) != s.k {
		panic("entangle: Sketch.Project len(dst) != K")
	}
	acc := make([]float64, s.k)
	s.ProjectAdd(acc, src, 0)
	for i, v := range acc {
		dst[i] = float32(v)
	}
}

// ProjectAdd adds S·x to dst, where x is the vector that equals src on the
// global coordinates off … off+len(src)−1 and 0 elsewhere. Projecting each
// parameter group with its own offset and adding the results gives the sketch
// of the whole vector (up to float64 rounding), so group sketches add up.
// It panics if len(dst) != K or off < 0. It does not allocate.
//
// Algorithm: for each tile of 64 columns, eight 256-entry tables hold every
// signed sum of 8 consecutive (scaled) inputs; each row then needs one hash
// and eight table look-ups per tile. Cost O(N·K/8 + N·32), memory 16 KiB.
func (s *Sketch) ProjectAdd(dst []float64, src []float32, off int) {
	if len(dst) != s.k {
		panic("entangle: Sketch.ProjectAdd len(dst) != K")
	}
	if off < 0 || (off+len(src))>>6 >= 1<<40 {
		panic("entangle: Sketch.ProjectAdd offset out of range")
	}
	if len(src) == 0 {
		return
	}
	var x [64]float64
	var tab [8][256]float64
	end := off + len(src)
	for t := off >> 6; t<<6 < end; t++ {
		c0 := t << 6
		for i := range x {
			if j := c0 + i; j >= off && j < end {
				x[i] = float64(src[j-off]) * s.scale
			} else {
				x[i] = 0
			}
		}
		for b := range tab {
			signedSums(&tab[b], x[8*b:8*b+8])
		}
		t0, t1, t2, t3 := &tab[0], &tab[1], &tab[2], &tab[3]
		t4, t5, t6, t7 := &tab[4], &tab[5], &tab[6], &tab[7]
		for k := range dst {
			h := s.bits(k, t)
			v := ((t0[h&255] + t1[h>>8&255]) + (t2[h>>16&255] + t3[h>>24&255])) +
				((t4[h>>32&255] + t5[h>>40&255]) + (t6[h>>48&255] + t7[h>>56]))
			dst[k] += v
		}
	}
}

// signedSums fills tab[m] = Σ_{i<8} ±x_i, with +x_i when bit i of m is set.
func signedSums(tab *[256]float64, x []float64) {
	tab[0], tab[1] = -x[0], x[0]
	size := 2
	for i := 1; i < 8; i++ {
		xi := x[i]
		for m := range size {
			tab[m+size] = tab[m] + xi
			tab[m] -= xi
		}
		size *= 2
	}
}

// SketchVar returns the exact variance of ⟨Sa,Sb⟩ over the random signs,
//
//	Var = (aa·bb + ab² − 2·a2b2) / K,
//
// with aa = ‖a‖², bb = ‖b‖², ab = ⟨a,b⟩ and a2b2 = Σ_i a_i² b_i² (SumSqProd).
// It follows from ⟨Sa,Sb⟩ = (1/K) Σ_k X_k with independent rows
// X_k = Σ_{i,j} s_i s_j a_i b_j, E X_k = ⟨a,b⟩ and
// Var X_k = Σ_{i≠j} (a_i² b_j² + a_i b_i a_j b_j). The variance of the
// sketched squared norm is the case a = b: 2(‖a‖⁴ − Σ a_i⁴)/K.
func SketchVar(aa, bb, ab, a2b2 float64, k int) float64 {
	return (aa*bb + ab*ab - 2*a2b2) / float64(k)
}

// SumSqProd returns Σ_i a_i² b_i², the correction term of SketchVar.
// It panics if the lengths differ.
func SumSqProd(a, b []float32) float64 {
	if len(a) != len(b) {
		panic("entangle: SumSqProd length mismatch")
	}
	var s, c float64
	for len(a) > 0 {
		n := min(blockLen, len(a))
		var l float64
		for i := range n {
			p := float64(a[i]) * float64(b[i])
			l += p * p
		}
		s, c = num.Neumaier(s, c, l)
		a, b = a[n:], b[n:]
	}
	return s + c
}

// SketchStdErr estimates the standard error of ⟨Sa,Sb⟩ as an estimate of
// ⟨a,b⟩ from the sketches alone (K = len(sa)):
//
//	SE = √((‖Sa‖²‖Sb‖² + ⟨Sa,Sb⟩²) / K).
//
// It plugs the sketched values into SketchVar and drops the −2Σa_i²b_i² term,
// so it is conservative (it overestimates, noticeably only for very sparse,
// overlapping vectors). It panics if the lengths differ.
func SketchStdErr(sa, sb []float32) float64 {
	d, aa, bb := DotNorms(sa, sb)
	return math.Sqrt((aa*bb + d*d) / float64(len(sa)))
}

package entangle

import "math/bits"

// Projection is a seeded linear map R^N → R^K applied to gradient vectors
// (Sketch, CountSketch). Both kinds are unbiased for inner products with the
// same variance, so SketchVar and SketchStdErr hold for either. Sketches are
// comparable only when the kind (Scheme), the seed and K agree.
type Projection interface {
	K() int
	Seed() uint64
	// Scheme names the kind and its hash; it changes whenever the map would.
	Scheme() string
	// ProjectAdd adds P·x to dst (len K), x being src at global coordinates
	// off … off+len(src)−1 and 0 elsewhere, so group sketches add up.
	ProjectAdd(dst []float64, src []float32, off int)
	// Project sets dst = P·src, rounded once to float32.
	Project(dst []float32, src []float32)
}

// Scheme returns SketchScheme.
func (s *Sketch) Scheme() string { return SketchScheme }

// CountSketch is the sparse Johnson–Lindenstrauss map of Charikar, Chen &
// Farach-Colton (2002): coordinate j of the input goes to one bucket
// h(j) ∈ [0, K) with a sign s(j) ∈ {±1},
//
//	(Sx)_k = Σ_{j : h(j) = k} s(j) x_j,
//
// both taken from one hash of (seed, j): u = SplitMix64(j ⊕ SplitMix64(seed)),
// h(j) = ⌊u·K / 2⁶⁴⌋ (the high word of the product), s(j) = +1 when u is odd.
// Projecting costs one hash and one addition per coordinate, O(N) whatever
// K is (the dense Sketch costs O(N·K/8)): a 124M-long gradient takes a fraction
// of a second. For fixed a, b, over the hash (treated as fully random):
//
//	⟨Sa,Sb⟩ = ⟨a,b⟩ + Σ_{i≠j, h(i)=h(j)} s(i)s(j) a_i b_j
//	E⟨Sa,Sb⟩   = ⟨a,b⟩
//	Var⟨Sa,Sb⟩ = (1/K) Σ_{i≠j} (a_i² b_j² + a_i b_i a_j b_j)
//	           = (‖a‖²‖b‖² + ⟨a,b⟩² − 2 Σ_i a_i² b_i²) / K          (SketchVar)
//
// — the pair (i, j) collides with probability 1/K and only the pairings
// (k, l) = (i, j) or (j, i) of the square's cross terms survive the signs —
// the dense sketch's variance exactly, so SketchStdErr applies unchanged.
// Like Sketch, a coordinate's bucket and sign depend only on its global
// index. A CountSketch is immutable and safe for concurrent use.
type CountSketch struct {
	seed uint64
	mix  uint64
	k    int
}

// CountSketchScheme names CountSketch's hash; record it with the seed and K
// next to stored sketches.
const CountSketchScheme = "countsketch-splitmix64-v1"

// NewCountSketch returns the count sketch to k buckets with the given seed.
// It panics unless 1 ≤ k ≤ 2^24.
func NewCountSketch(seed uint64, k int) *CountSketch {
	if k < 1 || k > MaxSketchRows {
		panic("entangle: NewCountSketch k out of range")
	}
	return &CountSketch{seed: seed, mix: splitmix64(seed), k: k}
}

// K returns the number of buckets.
func (s *CountSketch) K() int { return s.k }

// Seed returns the seed.
func (s *CountSketch) Seed() uint64 { return s.seed }

// Scheme returns CountSketchScheme.
func (s *CountSketch) Scheme() string { return CountSketchScheme }

// bucket returns h(j) and whether s(j) = +1.
func (s *CountSketch) bucket(j int) (int, bool) {
	u := splitmix64(uint64(j) ^ s.mix)
	hi, _ := bits.Mul64(u, uint64(s.k))
	return int(hi), u&1 == 1
}

// Entry returns the matrix entry S[row][col]: ±1 in row h(col), 0 elsewhere.
// It is the slow reference of ProjectAdd.
func (s *CountSketch) Entry(row, col int) float64 {
	if row < 0 || row >= s.k || col < 0 {
		panic("entangle: CountSketch.Entry index out of range")
	}
	h, pos := s.bucket(col)
	switch {
	case h != row:
		return 0
	case pos:
		return 1
	}
	return -1
}

// ProjectAdd adds S·x to dst, where x is src at the global coordinates
// off … off+len(src)−1 and 0 elsewhere. It panics if len(dst) != K or
// off < 0. It does not allocate.
func (s *CountSketch) ProjectAdd(dst []float64, src []float32, off int) {
	if len(dst) != s.k {
		panic("entangle: CountSketch.ProjectAdd len(dst) != K")
	}
	if off < 0 {
		panic("entangle: CountSketch.ProjectAdd offset out of range")
	}
	k, mix := uint64(s.k), s.mix
	for i, v := range src {
		u := splitmix64(uint64(off+i) ^ mix)
		h, _ := bits.Mul64(u, k)
		x := float64(v)
		if u&1 == 0 {
			x = -x
		}
		dst[h] += x
	}
}

// Project sets dst = S·src (len(dst) = K), accumulated in float64 and rounded
// once to float32. It panics if len(dst) != K.
func (s *CountSketch) Project(dst []float32, src []float32) {
	if len(dst) != s.k {
		panic("entangle: CountSketch.Project len(dst) != K")
	}
	acc := make([]float64, s.k)
	s.ProjectAdd(acc, src, 0)
	for i, v := range acc {
		dst[i] = float32(v)
	}
}

var (
	_ Projection = (*Sketch)(nil)
	_ Projection = (*CountSketch)(nil)
)

package entangle

import (
	"entangle/internal/num"
	"math"
	"slices"
)

// Dist summarises a sample of float64 values. Non-finite values (NaN, ±Inf)
// are excluded and counted in NonFinite; all other fields describe the N
// finite values and are NaN when N == 0.
//
// Quantiles use linear interpolation between order statistics (Hyndman & Fan
// type 7, the default of R and NumPy): for sorted x_0 ≤ … ≤ x_{N−1} and
// h = (N−1)p, Q(p) = x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋).
type Dist struct {
	N         int // finite values used
	NonFinite int // NaN or ±Inf values excluded
	Mean      float64
	Min, Max  float64
	Q05, Q25  float64
	Median    float64
	Q75, Q95  float64
}

// Quantile returns the type-7 quantile (see Dist) of the sorted, finite,
// non-empty sample x at probability p ∈ [0, 1]. It panics if x is empty or p is
// outside [0, 1].
func Quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		panic("entangle: Quantile of empty sample")
	}
	if !(p >= 0 && p <= 1) {
		panic("entangle: Quantile p outside [0, 1]")
	}
	h := float64(len(sorted)-1) * p
	lo := int(h)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := h - float64(lo)
	return sorted[lo] + f*(sorted[lo+1]-sorted[lo])
}

// Describe summarises x. It sorts a copy, so x is not modified. The mean is
// a compensated sum in input order divided by N.
func Describe(x []float64) Dist {
	s := make([]float64, 0, len(x))
	var d Dist
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			d.NonFinite++
			continue
		}
		s = append(s, v)
	}
	d.N = len(s)
	if d.N == 0 {
		nan := math.NaN()
		d.Mean, d.Min, d.Max, d.Q05, d.Q25, d.Median, d.Q75, d.Q95 = nan, nan, nan, nan, nan, nan, nan, nan
		return d
	}
	var sum, c float64
	for _, v := range s {
		sum, c = num.Neumaier(sum, c, v)
	}
	d.Mean = (sum + c) / float64(d.N)
	slices.Sort(s)
	d.Min, d.Max = s[0], s[len(s)-1]
	d.Q05 = Quantile(s, 0.05)
	d.Q25 = Quantile(s, 0.25)
	d.Median = Quantile(s, 0.5)
	d.Q75 = Quantile(s, 0.75)
	d.Q95 = Quantile(s, 0.95)
	return d
}

// Summary summarises the PairStats of one training step.
type Summary struct {
	N int // number of pairs

	Cos, R, NormRatio           Dist
	ChosenRatio, RejectedRatio  Dist
	NormW, NormL, Dot           Dist
	DeltaW, DeltaL, DeltaMargin Dist

	// CaseFrac[c] is the fraction of pairs whose paper Case is c;
	// LossCaseFrac[c] likewise for LossCase. Index 0 is CaseUndefined.
	// Each array sums to 1 when N > 0.
	CaseFrac, LossCaseFrac [NumCases]float64

	// Warned is the number of pairs with at least one warning, Warnings the
	// total number of warnings.
	Warned, Warnings int
}

// Summarize summarises the pairs of one step. Pairs with undefined (NaN)
// statistics are excluded from the corresponding Dist (see Dist.NonFinite)
// but still counted in N and in the case fractions.
func Summarize(pairs []PairStats) Summary {
	s := Summary{N: len(pairs)}
	col := make([]float64, len(pairs))
	dist := func(f func(p *PairStats) float64) Dist {
		for i := range pairs {
			col[i] = f(&pairs[i])
		}
		return Describe(col)
	}
	s.Cos = dist(func(p *PairStats) float64 { return p.Cos })
	s.R = dist(func(p *PairStats) float64 { return p.R })
	s.NormRatio = dist(func(p *PairStats) float64 { return p.NormRatio })
	s.ChosenRatio = dist(func(p *PairStats) float64 { return p.ChosenRatio })
	s.RejectedRatio = dist(func(p *PairStats) float64 { return p.RejectedRatio })
	s.NormW = dist(func(p *PairStats) float64 { return p.NormW })
	s.NormL = dist(func(p *PairStats) float64 { return p.NormL })
	s.Dot = dist(func(p *PairStats) float64 { return p.Dot })
	s.DeltaW = dist(func(p *PairStats) float64 { return p.DeltaW })
	s.DeltaL = dist(func(p *PairStats) float64 { return p.DeltaL })
	s.DeltaMargin = dist(func(p *PairStats) float64 { return p.DeltaMargin })
	var cc, lc [NumCases]int
	for i := range pairs {
		p := &pairs[i]
		if p.Case >= 0 && int(p.Case) < NumCases {
			cc[p.Case]++
		}
		if p.LossCase >= 0 && int(p.LossCase) < NumCases {
			lc[p.LossCase]++
		}
		if len(p.Warnings) > 0 {
			s.Warned++
			s.Warnings += len(p.Warnings)
		}
	}
	if s.N > 0 {
		for c := range NumCases {
			s.CaseFrac[c] = float64(cc[c]) / float64(s.N)
			s.LossCaseFrac[c] = float64(lc[c]) / float64(s.N)
		}
	}
	return s
}

// Accumulator sums float32 vectors in float64, e.g. the per-example gradients
// of a batch, to form the batch-mean gradient ḡ = (1/N) Σ g.
type Accumulator struct {
	Sum []float64 // Σ g, coordinate-wise
	N   int       // number of vectors added
}

// NewAccumulator returns an Accumulator for vectors of length n.
func NewAccumulator(n int) *Accumulator {
	return &Accumulator{Sum: make([]float64, n)}
}

// Add adds v to the sum. It panics if len(v) != len(a.Sum).
func (a *Accumulator) Add(v []float32) {
	if len(v) != len(a.Sum) {
		panic("entangle: Accumulator.Add length mismatch")
	}
	s := a.Sum[:len(v)]
	for i, x := range v {
		s[i] += float64(x)
	}
	a.N++
}

// Reset clears the sum for reuse.
func (a *Accumulator) Reset() {
	clear(a.Sum)
	a.N = 0
}

// BatchPair returns the statistics of the batch-mean gradients
// ḡ_w = w.Sum/w.N and ḡ_l = l.Sum/l.N: Dot = ⟨ḡ_w, ḡ_l⟩, norms, cosine etc.,
// what batch-level tools report (they differ from the per-pair averages of
// Summarize because they include the cross-example inner products). The loss
// weights are passed to Pair as given. An empty accumulator gives NaN
// statistics with warnings. It panics if the lengths differ.
func BatchPair(w, l *Accumulator, dw, dl float64) PairStats {
	d, ww, ll := dotNorms64(w.Sum, l.Sum)
	nw, nl := float64(w.N), float64(l.N)
	if w.N == 0 || l.N == 0 {
		nan := math.NaN()
		return Pair(nan, nan, nan, dw, dl)
	}
	return Pair(d/(nw*nl), ww/(nw*nw), ll/(nl*nl), dw, dl)
}

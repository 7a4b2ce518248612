package entangle

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel warnings. PairStats.Warnings wraps them (test with errors.Is).
var (
	// ErrZeroNorm: a gradient has zero norm, so ratios and the cosine that
	// divide by it are undefined (set to NaN).
	ErrZeroNorm = errors.New("entangle: zero-norm gradient")
	// ErrNaN: an input is NaN.
	ErrNaN = errors.New("entangle: NaN input")
	// ErrInf: an input is ±Inf.
	ErrInf = errors.New("entangle: infinite input")
	// ErrCauchySchwarz: |⟨g_w,g_l⟩| exceeds ‖g_w‖‖g_l‖ by more than rounding
	// (|Cos| > 1 + 1e-9), so the three inputs cannot come from one pair of
	// vectors.
	ErrCauchySchwarz = errors.New("entangle: |dot| > ‖g_w‖‖g_l‖ (inconsistent inputs)")
	// ErrNegativeNorm: a squared norm is negative.
	ErrNegativeNorm = errors.New("entangle: negative squared norm")
)

// Case classifies the first-order direction of the two log-probabilities
// (paper §3.1.1, Table 1; extended by a fourth case for general weights).
// A predicted change of exactly zero counts as the desired direction
// ("chosen does not fall", "rejected does not rise"), which matches the
// non-strict inequalities of the paper's Condition 1.
type Case int8

const (
	// CaseUndefined: an input was NaN (or ΔW/ΔL are NaN, e.g. Inf−Inf).
	CaseUndefined Case = 0
	// CaseIdeal (Table 1, case 1): chosen rises (ΔW ≥ 0), rejected falls (ΔL ≤ 0).
	CaseIdeal Case = 1
	// CaseBothFall (Table 1, case 2): chosen falls (ΔW < 0), rejected falls (ΔL ≤ 0).
	CaseBothFall Case = 2
	// CaseBothRise (Table 1, case 3): chosen rises (ΔW ≥ 0), rejected rises (ΔL > 0).
	CaseBothRise Case = 3
	// CaseInverted: chosen falls (ΔW < 0) and rejected rises (ΔL > 0).
	// Impossible by Cauchy–Schwarz for margin losses with d_w, d_l ≥ 0, but
	// possible when a weight is negative (e.g. TRL nca_pair, apo_down).
	CaseInverted Case = 4
)

// NumCases is the number of Case values, for arrays indexed by Case.
const NumCases = 5

// String returns a short name of the case.
func (c Case) String() string {
	switch c {
	case CaseUndefined:
		return "undefined"
	case CaseIdeal:
		return "ideal"
	case CaseBothFall:
		return "both-fall"
	case CaseBothRise:
		return "both-rise"
	case CaseInverted:
		return "inverted"
	}
	return fmt.Sprintf("Case(%d)", int8(c))
}

// CaseOf classifies a pair of (predicted or observed) changes of the chosen
// and rejected log-probabilities by their signs: chosen rises iff dW ≥ 0,
// rejected falls iff dL ≤ 0. NaN in either gives CaseUndefined.
func CaseOf(dW, dL float64) Case {
	if math.IsNaN(dW) || math.IsNaN(dL) {
		return CaseUndefined
	}
	up := dW >= 0
	down := dL <= 0
	switch {
	case up && down:
		return CaseIdeal
	case !up && down:
		return CaseBothFall
	case up && !down:
		return CaseBothRise
	}
	return CaseInverted
}

// PairStats holds the gradient-entanglement statistics of one preference pair.
// W (w) is the chosen response y_w, L (l) the rejected response y_l, and
// g_w = ∇_θ log π_θ(y_w|x), g_l = ∇_θ log π_θ(y_l|x) (paper §1).
// Undefined values (division by a zero norm) are NaN and come with a warning.
type PairStats struct {
	Dot    float64 // I = ⟨g_w, g_l⟩
	WW, LL float64 // ‖g_w‖², ‖g_l‖²
	NormW  float64 // ‖g_w‖
	NormL  float64 // ‖g_l‖
	Cos    float64 // I / (‖g_w‖‖g_l‖)

	NormRatio     float64 // ‖g_l‖ / ‖g_w‖ (rejected over chosen)
	ChosenRatio   float64 // I / ‖g_w‖²; chosen rises under DPO iff ≤ 1
	RejectedRatio float64 // I / ‖g_l‖²; rejected falls under DPO iff ≤ 1
	R             float64 // I / min(‖g_w‖², ‖g_l‖²); paper Case 1 iff R ≤ 1

	DW, DL float64 // loss weights d_w = −∂ℓ/∂z_w, d_l = +∂ℓ/∂z_l as given

	// DeltaW, DeltaL are the first-order changes of log π_w and log π_l per
	// unit step size for the SGD step Δθ = η(d_w g_w − d_l g_l):
	//   DeltaW = d_w‖g_w‖² − d_l I,  DeltaL = d_w I − d_l‖g_l‖².
	// Multiply by η for the predicted change of one step.
	DeltaW, DeltaL float64
	// DeltaMargin = DeltaW − DeltaL, the predicted change of log π_w − log π_l.
	DeltaMargin float64

	// Case is the paper's Table 1 case (weights d_w = d_l = 1), i.e.
	// CaseOf(‖g_w‖² − I, I − ‖g_l‖²).
	Case Case
	// LossCase is the case for the given weights, CaseOf(DeltaW, DeltaL).
	LossCase Case

	// Warnings lists the problems found (each wraps one of the Err
	// sentinels); nil when all is well.
	Warnings []error
}

// Pair computes the statistics of one pair from dot = ⟨g_w,g_l⟩,
// ww = ‖g_w‖², ll = ‖g_l‖² and the loss weights dw = d_w, dl = d_l
// (related-work §1: d_w := −∂ℓ/∂z_w, d_l := +∂ℓ/∂z_l; for DPO
// d_w = d_l = βσ(−βΔ)). See the package documentation for the formulas.
// Pair never panics; bad inputs give NaN fields and Warnings.
func Pair(dot, ww, ll, dw, dl float64) PairStats {
	p := PairStats{Dot: dot, WW: ww, LL: ll, DW: dw, DL: dl}
	for _, in := range []struct {
		name string
		v    float64
	}{{"dot", dot}, {"‖g_w‖²", ww}, {"‖g_l‖²", ll}, {"d_w", dw}, {"d_l", dl}} {
		switch {
		case math.IsNaN(in.v):
			p.Warnings = append(p.Warnings, fmt.Errorf("%w: %s", ErrNaN, in.name))
		case math.IsInf(in.v, 0):
			p.Warnings = append(p.Warnings, fmt.Errorf("%w: %s", ErrInf, in.name))
		}
	}
	if ww < 0 {
		p.Warnings = append(p.Warnings, fmt.Errorf("%w: ‖g_w‖² = %g", ErrNegativeNorm, ww))
	}
	if ll < 0 {
		p.Warnings = append(p.Warnings, fmt.Errorf("%w: ‖g_l‖² = %g", ErrNegativeNorm, ll))
	}
	if ww == 0 {
		p.Warnings = append(p.Warnings, fmt.Errorf("%w: chosen", ErrZeroNorm))
	}
	if ll == 0 {
		p.Warnings = append(p.Warnings, fmt.Errorf("%w: rejected", ErrZeroNorm))
	}
	p.NormW = math.Sqrt(ww)
	p.NormL = math.Sqrt(ll)
	nan := math.NaN()
	div := func(x, y float64) float64 {
		if y == 0 {
			return nan
		}
		return x / y
	}
	// ‖g_w‖‖g_l‖ = √(ww·ll) lies between ww and ll, so it cannot overflow
	// or underflow to 0 when both are positive and finite.
	p.Cos = div(dot, p.NormW*p.NormL)
	if math.Abs(p.Cos) > 1+1e-9 {
		p.Warnings = append(p.Warnings, fmt.Errorf("%w: cos = %g", ErrCauchySchwarz, p.Cos))
	}
	p.NormRatio = div(p.NormL, p.NormW)
	p.ChosenRatio = div(dot, ww)
	p.RejectedRatio = div(dot, ll)
	p.R = div(dot, math.Min(ww, ll))

	p.DeltaW = dw*ww - dl*dot
	p.DeltaL = dw*dot - dl*ll
	p.DeltaMargin = p.DeltaW - p.DeltaL
	// Paper case: signs of ww − I and I − ll; a floating-point subtraction
	// is zero iff its operands are equal and otherwise has the exact sign,
	// so ties (I = ‖g_w‖² or I = ‖g_l‖²) are decided exactly.
	p.Case = CaseOf(ww-dot, dot-ll)
	p.LossCase = CaseOf(p.DeltaW, p.DeltaL)
	return p
}

// FirstOrderCheck compares the first-order predicted changes of the chosen
// and rejected log-probabilities with the changes observed after a step.
type FirstOrderCheck struct {
	PredW, PredL, ObsW, ObsL float64 // the inputs

	// RelErrW, RelErrL, RelErrMargin are RelErr(pred, obs) for the chosen,
	// the rejected, and the margin (W − L).
	RelErrW, RelErrL, RelErrMargin float64

	PredCase Case // CaseOf(PredW, PredL)
	ObsCase  Case // CaseOf(ObsW, ObsL)
	// Match reports PredCase == ObsCase (and both defined).
	Match bool
}

// RelErr is the symmetric relative error used by FirstOrder:
//
//	RelErr(p, o) = |o − p| / max(|p|, |o|),  RelErr(0, 0) = 0.
//
// It is scale-free and bounded: 0 for agreement, ≤ 1 when p and o have the
// same sign, exactly 1 when one of them is zero, in (1, 2] when the signs
// differ. It never divides by zero, so it stays meaningful when both values
// are near 0 (unlike |o − p|/|p|). NaN if an input is NaN.
func RelErr(p, o float64) float64 {
	if math.IsNaN(p) || math.IsNaN(o) {
		return math.NaN()
	}
	if p == o { // includes 0, 0 and equal infinities
		return 0
	}
	m := math.Max(math.Abs(p), math.Abs(o))
	if math.IsInf(m, 0) {
		return math.NaN()
	}
	return math.Abs(o-p) / m
}

// FirstOrder checks a first-order prediction against an observation.
// predW = ⟨g_w, Δθ⟩ and predL = ⟨g_l, Δθ⟩ for the update Δθ actually applied
// (see Predict), obsW and obsL the observed changes of log π_w and log π_l
// over that update. By Taylor's theorem obs = pred + O(‖Δθ‖²), so RelErr
// should shrink linearly with the step size.
func FirstOrder(predW, predL, obsW, obsL float64) FirstOrderCheck {
	c := FirstOrderCheck{PredW: predW, PredL: predL, ObsW: obsW, ObsL: obsL}
	c.RelErrW = RelErr(predW, obsW)
	c.RelErrL = RelErr(predL, obsL)
	c.RelErrMargin = RelErr(predW-predL, obsW-obsL)
	c.PredCase = CaseOf(predW, predL)
	c.ObsCase = CaseOf(obsW, obsL)
	c.Match = c.PredCase == c.ObsCase && c.PredCase != CaseUndefined
	return c
}

// Predict returns the first-order predicted changes predW = ⟨g_w, Δθ⟩ and
// predL = ⟨g_l, Δθ⟩ of the two log-probabilities for the update delta = Δθ.
// It panics if the lengths differ.
func Predict(gw, gl, delta []float32) (predW, predL float64) {
	return Dot(gw, delta), Dot(gl, delta)
}

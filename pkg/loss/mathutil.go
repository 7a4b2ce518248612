package loss

import "math"

// sigmoid returns σ(x) = 1/(1+e^{−x}) without overflow for large |x|.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Logistic is σ (sigmoid) for other packages: pkg/pref's learned gate.
func Logistic(x float64) float64 { return sigmoid(x) }

// logSigmoid returns log σ(x) = −log(1+e^{−x}) without overflow or
// cancellation for large |x|.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// dsigmoid returns σ'(x) = σ(x)σ(−x).
func dsigmoid(x float64) float64 {
	return sigmoid(x) * sigmoid(-x)
}

// log1mexp returns log(1 − e^x) for x < 0, choosing between log(−expm1(x))
// and log1p(−e^x) to keep full precision (Mächler 2012, "Accurately
// computing log(1 − exp(−|a|))"). It is −Inf at x = 0 and NaN for x > 0.
func log1mexp(x float64) float64 {
	if x > -math.Ln2 {
		return math.Log(-math.Expm1(x))
	}
	return math.Log1p(-math.Exp(x))
}

// relu returns max(0, x).
func relu(x float64) float64 {
	return math.Max(0, x)
}

// step returns the derivative of relu used here: 1 for x > 0 and 0 for x ≤ 0
// (PyTorch's convention at the kink).
func step(x float64) float64 {
	if x > 0 {
		return 1
	}
	return 0
}

package plotting

import (
	"math"
	"strconv"
	"strings"

	"entangle/pkg/entangle"
)

// MaxLinePoints is the most points a line of a figure keeps (Thin): about
// two per horizontal pixel of a 10-inch panel at 96 dpi, so nothing visible is
// lost.
const MaxLinePoints = 2000

// Series is a named curve y(x). Non-finite points are dropped when drawn.
type Series struct {
	Name string
	X, Y []float64
}

// Band is a quantile band over x: Lo ≤ Mid ≤ Hi at every X (typically q25,
// median, q75).
type Band struct {
	Name        string
	X           []float64
	Lo, Mid, Hi []float64
	N           []int // finite samples behind each point
}

// Thin returns at most maxPoints points of the curve (x, y), x in order.
// Non-finite points are dropped; if more than maxPoints remain, the index
// range is cut into B = (maxPoints−2)/2 equal buckets, each bucket keeps its
// minimum and maximum (in x order), so spikes survive, and the first and last
// points are always kept: at most 2B + 2 ≤ maxPoints points. The result is
// freshly allocated. It panics if the lengths differ or maxPoints < 4.
func Thin(x, y []float64, maxPoints int) (tx, ty []float64) {
	if len(x) != len(y) {
		panic("plotting: Thin: len(x) != len(y)")
	}
	if maxPoints < 4 {
		panic("plotting: Thin: maxPoints < 4")
	}
	fx := make([]float64, 0, len(x))
	fy := make([]float64, 0, len(y))
	for i := range x {
		if finite(x[i]) && finite(y[i]) {
			fx, fy = append(fx, x[i]), append(fy, y[i])
		}
	}
	n := len(fx)
	if n <= maxPoints {
		return fx, fy
	}
	B := (maxPoints - 2) / 2
	keep := make([]int, 0, 2*B+2)
	keep = append(keep, 0)
	for b := 0; b < B; b++ {
		lo, hi := b*n/B, (b+1)*n/B
		imin, imax := lo, lo
		for i := lo; i < hi; i++ {
			if fy[i] < fy[imin] {
				imin = i
			}
			if fy[i] > fy[imax] {
				imax = i
			}
		}
		for _, i := range [2]int{min(imin, imax), max(imin, imax)} {
			if i != keep[len(keep)-1] {
				keep = append(keep, i)
			}
		}
	}
	if keep[len(keep)-1] != n-1 {
		keep = append(keep, n-1)
	}
	tx = make([]float64, len(keep))
	ty = make([]float64, len(keep))
	for j, i := range keep {
		tx[j], ty[j] = fx[i], fy[i]
	}
	return tx, ty
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// QuantileBand returns the band of samples[i] at x[i]: Lo = q25, Mid =
// median, Hi = q75 (type-7 quantiles, entangle.Describe). Steps whose
// samples have no finite value are left out. It panics if the lengths differ.
func QuantileBand(name string, x []float64, samples [][]float64) Band {
	if len(x) != len(samples) {
		panic("plotting: QuantileBand: len(x) != len(samples)")
	}
	b := Band{Name: name}
	for i, s := range samples {
		d := entangle.Describe(s)
		if d.N == 0 {
			continue
		}
		b.X = append(b.X, x[i])
		b.Lo = append(b.Lo, d.Q25)
		b.Mid = append(b.Mid, d.Median)
		b.Hi = append(b.Hi, d.Q75)
		b.N = append(b.N, d.N)
	}
	return b
}

// ThinBand keeps at most maxPoints points of b by taking every k-th step
// (k = ⌈len/maxPoints⌉, the last always kept): a band's edges must stay
// aligned, so it is strided rather than min/max-bucketed.
func ThinBand(b Band, maxPoints int) Band {
	n := len(b.X)
	if n <= maxPoints {
		return b
	}
	k := (n + maxPoints - 1) / maxPoints
	out := Band{Name: b.Name}
	for i := 0; i < n; i++ {
		if i%k != 0 && i != n-1 {
			continue
		}
		out.X = append(out.X, b.X[i])
		out.Lo = append(out.Lo, b.Lo[i])
		out.Mid = append(out.Mid, b.Mid[i])
		out.Hi = append(out.Hi, b.Hi[i])
		if len(b.N) == n {
			out.N = append(out.N, b.N[i])
		}
	}
	return out
}

// PlaneRegion returns the case region of the condition plane containing the
// point (chosen ratio x, rejected ratio y): 1 for x ≤ 1, y ≤ 1; 2 for x > 1,
// y ≤ 1; 3 for x ≤ 1, y > 1; 4 (CaseInverted, unreachable for real pairs)
// for x > 1, y > 1; CaseUndefined if either is NaN. It matches
// entangle.Pair(dot, ww, ll, 1, 1).Case for non-zero norms.
func PlaneRegion(x, y float64) entangle.Case {
	if math.IsNaN(x) || math.IsNaN(y) {
		return entangle.CaseUndefined
	}
	// chosen rises ⇔ x ≤ 1; rejected falls ⇔ y ≤ 1; CaseOf takes the
	// changes: ΔW ∝ 1 − x, ΔL ∝ y − 1.
	return entangle.CaseOf(1-x, y-1)
}

// CaseOrder lists the cases in stacking order: ideal, both fall, both rise,
// then the rest (inverted and undefined together as "other").
var CaseOrder = []entangle.Case{entangle.Case(1), entangle.Case(2), entangle.Case(3)}

// CaseLabels names the stacked layers, CaseOrder then "other".
var CaseLabels = []string{"case 1: ideal (chosen ↑, rejected ↓)", "case 2: both decrease", "case 3: both increase", "other (inverted or undefined)"}

// CaseFractions returns, for one step's cases, the fractions in CaseOrder
// and a fourth "other" fraction; all zero for an empty step.
func CaseFractions(cases []entangle.Case) [4]float64 {
	var f [4]float64
	if len(cases) == 0 {
		return f
	}
	for _, c := range cases {
		switch c {
		case 1, 2, 3:
			f[c-1]++
		default:
			f[3]++
		}
	}
	for i := range f {
		f[i] /= float64(len(cases))
	}
	return f
}

// Stack returns the cumulative sums of layers (layers[k][i] = value of layer
// k at point i): out[k][i] = Σ_{j≤k} layers[j][i], the upper edge of layer k
// in a stacked area plot (the lower edge is out[k−1], or 0).
func Stack(layers [][]float64) [][]float64 {
	out := make([][]float64, len(layers))
	for k := range layers {
		out[k] = make([]float64, len(layers[k]))
		for i, v := range layers[k] {
			if k > 0 {
				v += out[k-1][i]
			}
			out[k][i] = v
		}
	}
	return out
}

// GroupBuckets maps parameter group names (model.Tensors names) to at most
// maxBuckets labels: the names themselves when few enough, else by layer and
// kind, else by kind only (package doc). of[g] is the label index of group g.
func GroupBuckets(names []string, maxBuckets int) (labels []string, of []int) {
	if len(names) <= maxBuckets {
		return append([]string(nil), names...), identity(len(names))
	}
	labels, of = bucketBy(names, layerKind)
	if len(labels) <= maxBuckets {
		return labels, of
	}
	return bucketBy(names, kindOnly)
}

func identity(n int) []int {
	of := make([]int, n)
	for i := range of {
		of[i] = i
	}
	return of
}

// bucketBy labels every name with label(name), labels in first-seen order.
func bucketBy(names []string, label func(string) string) ([]string, []int) {
	var labels []string
	index := map[string]int{}
	of := make([]int, len(names))
	for g, n := range names {
		l := label(n)
		i, ok := index[l]
		if !ok {
			i = len(labels)
			index[l] = i
			labels = append(labels, l)
		}
		of[g] = i
	}
	return labels, of
}

// layerKind is the layer-and-kind label of a model.Tensors name.
func layerKind(name string) string {
	switch {
	case name == "wte" || name == "wpe":
		return "embeddings"
	case strings.HasPrefix(name, "lnf.") || strings.HasPrefix(name, "lm_head."):
		return "final LN/head"
	case strings.HasPrefix(name, "h."):
		rest := name[2:]
		dot := strings.IndexByte(rest, '.')
		if dot < 0 {
			return "other"
		}
		l, err := strconv.Atoi(rest[:dot])
		if err != nil {
			return "other"
		}
		switch kind := rest[dot+1:]; {
		case strings.HasPrefix(kind, "ln1.") || strings.HasPrefix(kind, "attn."):
			return "layer " + strconv.Itoa(l) + " attention"
		case strings.HasPrefix(kind, "ln2.") || strings.HasPrefix(kind, "mlp."):
			return "layer " + strconv.Itoa(l) + " MLP"
		}
	}
	return "other"
}

// kindOnly is the kind label of a model.Tensors name, layers merged.
func kindOnly(name string) string {
	l := layerKind(name)
	switch {
	case strings.HasSuffix(l, " attention"):
		return "attention (all layers)"
	case strings.HasSuffix(l, " MLP"):
		return "MLP (all layers)"
	}
	return l
}

// Shares sums per-group values into buckets and divides by the total over
// all groups: shares[b] = Σ_{g: of[g]=b} v[g] / Σ_g v[g]. The shares sum to 1;
// a share can be negative or exceed 1 when v (an inner product) has mixed
// signs. A zero total gives NaN shares.
func Shares(v []float64, of []int, nBuckets int) []float64 {
	if len(v) != len(of) {
		panic("plotting: Shares: len(v) != len(of)")
	}
	s := make([]float64, nBuckets)
	total := 0.0
	for g, x := range v {
		s[of[g]] += x
		total += x
	}
	for b := range s {
		s[b] /= total
	}
	return s
}

// ViewRange returns a robust axis range for the values: from the 1st to the
// 99th percentile, widened to contain [lo, hi] and padded by 5%. With no
// finite value it returns [lo, hi].
func ViewRange(v []float64, lo, hi float64) (a, b float64) {
	d := entangle.Describe(v)
	a, b = lo, hi
	if d.N > 0 {
		s := sortedFinite(v)
		a = math.Min(a, entangle.Quantile(s, 0.01))
		b = math.Max(b, entangle.Quantile(s, 0.99))
	}
	pad := 0.05 * (b - a)
	return a - pad, b + pad
}

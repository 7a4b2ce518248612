package entangle

import "entangle/internal/num"

// blockLen is the number of elements reduced by the unrolled inner kernels
// before their (plain float64) partial sums are folded into a compensated
// running total. Products of two float32 values are exact in float64, so the
// only rounding comes from the additions: within a block each of the four
// lanes adds at most blockLen/4 = 64 terms, and across blocks the Neumaier
// total loses essentially nothing. The order of every addition depends only
// on the length of the input, so results are bit-reproducible.
const blockLen = 256

// Dot returns the inner product Σ_i a_i b_i of two float32 vectors, computed
// with float64 products (exact) and blocked, compensated float64 summation.
// It panics if the lengths differ. It does not allocate.
func Dot(a, b []float32) float64 {
	if len(a) != len(b) {
		panic("entangle: Dot length mismatch")
	}
	var s, c float64
	for len(a) > 0 {
		n := min(blockLen, len(a))
		s, c = num.Neumaier(s, c, dotBlock(a[:n], b[:n]))
		a, b = a[n:], b[n:]
	}
	return s + c
}

// SumSq returns the squared Euclidean norm Σ_i a_i² with float64 accumulation,
// summed like Dot. It does not allocate.
func SumSq(a []float32) float64 {
	var s, c float64
	for len(a) > 0 {
		n := min(blockLen, len(a))
		s, c = num.Neumaier(s, c, sumSqBlock(a[:n]))
		a = a[n:]
	}
	return s + c
}

// DotNorms returns, in one pass over the data, dot = Σ a_i b_i,
// aa = Σ a_i² and bb = Σ b_i², each summed exactly as Dot and SumSq sum
// (so DotNorms(a, b) returns the same three values, bit for bit, as
// Dot(a, b), SumSq(a), SumSq(b)). It panics if the lengths differ. It does not
// allocate.
func DotNorms(a, b []float32) (dot, aa, bb float64) {
	if len(a) != len(b) {
		panic("entangle: DotNorms length mismatch")
	}
	var sd, cd, sa, ca, sb, cb float64
	for len(a) > 0 {
		n := min(blockLen, len(a))
		d, x, y := dotNormsBlock(a[:n], b[:n])
		sd, cd = num.Neumaier(sd, cd, d)
		sa, ca = num.Neumaier(sa, ca, x)
		sb, cb = num.Neumaier(sb, cb, y)
		a, b = a[n:], b[n:]
	}
	return sd + cd, sa + ca, sb + cb
}

// dotNorms64 is DotNorms for float64 data (used for float64 accumulators of
// batch-mean gradients). The products are no longer exact, but the summation
// is the same.
func dotNorms64(a, b []float64) (dot, aa, bb float64) {
	if len(a) != len(b) {
		panic("entangle: length mismatch")
	}
	var sd, cd, sa, ca, sb, cb float64
	for len(a) > 0 {
		n := min(blockLen, len(a))
		x, y := a[:n], b[:n]
		var d0, d1, a0, a1, b0, b1 float64
		for len(x) >= 2 {
			d0 += x[0] * y[0]
			d1 += x[1] * y[1]
			a0 += x[0] * x[0]
			a1 += x[1] * x[1]
			b0 += y[0] * y[0]
			b1 += y[1] * y[1]
			x, y = x[2:], y[2:]
		}
		if len(x) == 1 {
			d0 += x[0] * y[0]
			a0 += x[0] * x[0]
			b0 += y[0] * y[0]
		}
		sd, cd = num.Neumaier(sd, cd, d0+d1)
		sa, ca = num.Neumaier(sa, ca, a0+a1)
		sb, cb = num.Neumaier(sb, cb, b0+b1)
		a, b = a[n:], b[n:]
	}
	return sd + cd, sa + ca, sb + cb
}

// dotBlock is the unrolled kernel of Dot: four float64 lanes, combined as
// (l0+l1)+(l2+l3). len(b) must equal len(a).
func dotBlock(a, b []float32) float64 {
	b = b[:len(a)]
	var l0, l1, l2, l3 float64
	for len(a) >= 4 {
		l0 += float64(a[0]) * float64(b[0])
		l1 += float64(a[1]) * float64(b[1])
		l2 += float64(a[2]) * float64(b[2])
		l3 += float64(a[3]) * float64(b[3])
		a, b = a[4:], b[4:]
	}
	for i := range a {
		l0 += float64(a[i]) * float64(b[i])
	}
	return (l0 + l1) + (l2 + l3)
}

// sumSqBlock is the unrolled kernel of SumSq; same lane layout as dotBlock.
func sumSqBlock(a []float32) float64 {
	var l0, l1, l2, l3 float64
	for len(a) >= 4 {
		x0, x1, x2, x3 := float64(a[0]), float64(a[1]), float64(a[2]), float64(a[3])
		l0 += x0 * x0
		l1 += x1 * x1
		l2 += x2 * x2
		l3 += x3 * x3
		a = a[4:]
	}
	for i := range a {
		x := float64(a[i])
		l0 += x * x
	}
	return (l0 + l1) + (l2 + l3)
}

// dotNormsBlock is the fused kernel of DotNorms; same lane layout as dotBlock
// for each of its three sums, so it matches dotBlock and sumSqBlock bit for
// bit.
func dotNormsBlock(a, b []float32) (dot, aa, bb float64) {
	b = b[:len(a)]
	var d0, d1, d2, d3, a0, a1, a2, a3, b0, b1, b2, b3 float64
	for len(a) >= 4 {
		// One element at a time keeps only two temporaries live, so the
		// twelve accumulators stay in registers (16 XMM on amd64).
		x, y := float64(a[0]), float64(b[0])
		d0 += x * y
		a0 += x * x
		b0 += y * y
		x, y = float64(a[1]), float64(b[1])
		d1 += x * y
		a1 += x * x
		b1 += y * y
		x, y = float64(a[2]), float64(b[2])
		d2 += x * y
		a2 += x * x
		b2 += y * y
		x, y = float64(a[3]), float64(b[3])
		d3 += x * y
		a3 += x * x
		b3 += y * y
		a, b = a[4:], b[4:]
	}
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		d0 += x * y
		a0 += x * x
		b0 += y * y
	}
	return (d0 + d1) + (d2 + d3), (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

// Range names a contiguous slice [Off, Off+Len) of a flat parameter vector,
// e.g. one layer's weights. The parameter groups are the rows of
// model.Tensors, which owns the table (with shapes); a Range is a row as
// the reductions need it, runfmt.Group the same row as the streams'
// metadata writes it, and GroupDot a result over a Range.
type Range struct {
	Name     string
	Off, Len int
}

// GroupDot holds the three reductions of one parameter group: Dot = Σ a_i b_i,
// AA = Σ a_i², BB = Σ b_i² over the group's coordinates.
type GroupDot struct {
	Name        string
	Dot, AA, BB float64
}

// DotGroups computes DotNorms restricted to each group: dst[g] holds the dot
// product and squared norms of a[r.Off:r.Off+r.Len] and b[same] for
// r = groups[g]. If the groups partition the vector, the sums of the group
// values equal DotNorms(a, b) up to rounding (each group is summed on its own).
// It panics if len(dst) != len(groups), if the lengths of a and b differ, or if
// a range lies outside the vectors. It does not allocate.
func DotGroups(dst []GroupDot, a, b []float32, groups []Range) {
	if len(dst) != len(groups) {
		panic("entangle: DotGroups len(dst) != len(groups)")
	}
	if len(a) != len(b) {
		panic("entangle: DotGroups length mismatch")
	}
	for g, r := range groups {
		if r.Off < 0 || r.Len < 0 || r.Off > len(a)-r.Len {
			panic("entangle: DotGroups range out of bounds")
		}
		d, x, y := DotNorms(a[r.Off:r.Off+r.Len], b[r.Off:r.Off+r.Len])
		dst[g] = GroupDot{Name: r.Name, Dot: d, AA: x, BB: y}
	}
}

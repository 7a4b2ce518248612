package gemm

import "math"

// genericRun is the pure-Go reference of every product: for each c[i,j], in
// increasing p, c[i,j] = fma32(op(a)[i,p], op(b)[p,j], c[i,j]). It is the
// oracle the SIMD kernels are tested against, bit for bit.
func genericRun(c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, m, n, k int) {
	// op(a)[i,p] = a[i*ai+p*ap], op(b)[p,j] = b[p*bp+j*bj]
	ai, ap := lda, 1
	if transA {
		ai, ap = 1, lda
	}
	bp, bj := ldb, 1
	if transB {
		bp, bj = 1, ldb
	}
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		for p := 0; p < k; p++ {
			av := a[i*ai+p*ap]
			o := p * bp
			for j := range crow {
				crow[j] = fma32(av, b[o+j*bj], crow[j])
			}
		}
	}
}

// fma32Slow finishes fma32 when s = fl64(p + zz) may be a float32 midpoint or
// lies outside float32's normal range.
func fma32Slow(p, zz, s float64) float32 {
	f := float32(s)
	fs := float64(f)
	if fs == s || math.IsInf(s, 0) || math.IsNaN(s) {
		return f
	}
	// g is f's float32 neighbour on the other side of s
	var g float32
	if fs > s {
		g = math.Nextafter32(f, float32(math.Inf(-1)))
	} else {
		g = math.Nextafter32(f, float32(math.Inf(1)))
	}
	if (fs+float64(g))/2 != s { // not a midpoint: the one rounding of s is right
		return f
	}
	bb := s - p
	e := (p - (s - bb)) + (zz - bb)
	switch {
	case e == 0:
		return f // a true tie: float32(s) rounded it to even
	case (e > 0) == (float64(g) > s):
		return g
	default:
		return f
	}
}

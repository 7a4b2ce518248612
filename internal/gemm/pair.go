package gemm

// pairKernel is a SIMD kernel of PairBlock over n elements, n a multiple of
// 16. kernelSet.pair holds three (axpy and dots, axpy only, dots only).
type pairKernel func(dst, sw, sl, gw, gl *float32, n int, a, c float64, acc *[48]float64)

// PairBlock is the per-pair pass of a preference step over one block of a
// pair's gradients gw, gl (float32, widened to float64 exactly). With dst not
// nil it accumulates, element by element,
//
//	dst[k] += float32(a·gw[k] + c·gl[k])   (two products and a sum in float64)
//	sw[k]  += gw[k],   sl[k] += gl[k]
//
// and with acc not nil it adds the products of element k to lane j = k mod 16:
//
//	acc[j] += gw[k]·gl[k],   acc[16+j] += gw[k]²,   acc[32+j] += gl[k]²
//
// (each product is exact in float64, so a lane's sum is rounded once per
// term whether or not the kernel fuses the multiply-add). SumLanes reduces a
// lane array in a fixed order. k counts from the start of the given slices.
// The SIMD kernels (AVX-512 and AVX2, _gen/pair.go) and the scalar code give
// identical bits.
func PairBlock(dst, sw, sl, gw, gl []float32, a, c float64, acc *[48]float64) {
	current().pairBlock(dst, sw, sl, gw, gl, a, c, acc)
}

// pairBlock is PairBlock with ks's kernels (or the scalar code).
func (ks *kernelSet) pairBlock(dst, sw, sl, gw, gl []float32, a, c float64, acc *[48]float64) {
	n := len(gw)
	gl = gl[:n]
	if dst != nil {
		dst, sw, sl = dst[:n], sw[:n], sl[:n]
	}
	k := 0
	if n16 := n &^ 15; n16 > 0 {
		var f pairKernel
		pairFast := ks.pair
		switch {
		case dst != nil && acc != nil:
			f = pairFast[0]
		case dst != nil:
			f = pairFast[1]
		case acc != nil:
			f = pairFast[2]
		default:
			return
		}
		if f != nil {
			var d, u, v *float32
			if dst != nil {
				d, u, v = &dst[0], &sw[0], &sl[0]
			}
			f(d, u, v, &gw[0], &gl[0], n16, a, c, acc)
			k = n16
		}
	}
	for ; k < n; k++ {
		x, y := float64(gw[k]), float64(gl[k])
		if dst != nil {
			dst[k] += float32(float64(a*x) + float64(c*y))
			sw[k] += gw[k]
			sl[k] += gl[k]
		}
		if acc != nil {
			j := k & 15
			acc[j] += x * y
			acc[16+j] += x * x
			acc[32+j] += y * y
		}
	}
}

// SumLanes returns the sums of the three 16-lane groups of acc (⟨gw,gl⟩,
// ‖gw‖², ‖gl‖² of PairBlock), each reduced pairwise in a fixed order:
// lanes j and j+8, then j and j+4, j and j+2, j and j+1.
func SumLanes(acc *[48]float64) (dot, ww, ll float64) {
	red := func(l []float64) float64 {
		var s [8]float64
		for j := range 8 {
			s[j] = l[j] + l[j+8]
		}
		for j := range 4 {
			s[j] += s[j+4]
		}
		s[0] += s[2]
		s[1] += s[3]
		return s[0] + s[1]
	}
	return red(acc[0:16]), red(acc[16:32]), red(acc[32:48])
}

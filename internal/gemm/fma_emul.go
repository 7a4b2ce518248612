//go:build !arm64

package gemm

import "math"

// fma32 returns x·y+z rounded once to float32 (round to nearest even), what the
// VFMADD231PS instruction computes, in portable Go.
//
// The product of two float32 values is exact in float64 (24+24 ≤ 53 bits), so
// s = fl64(x·y+z) has a single rounding; rounding s again to float32 gives the
// correctly rounded result unless s lies exactly halfway between two float32
// values while x·y+z itself does not (double rounding). In that case the exact
// error e = (x·y+z) − s (TwoSum, Knuth TAOCP vol. 2 §4.2.2) says which neighbour
// x·y+z is nearer to.
func fma32(x, y, z float32) float32 {
	p := float64(x) * float64(y)
	s := p + float64(z)
	// Fast exit (small enough to inline): in float32's normal range (exponent
	// field of s ≥ 1023-126) s is a float32 midpoint only if its 29 low
	// mantissa bits are 1000…0.
	if bits := math.Float64bits(s); bits>>52&0x7ff >= 1023-126 && bits&(1<<29-1) != 1<<28 {
		return float32(s)
	}
	return fma32Slow(p, float64(z), s)
}

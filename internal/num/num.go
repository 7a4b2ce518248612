// Package num holds the small numerical helpers that several packages need,
// once: compensated summation, finiteness, and the float32 view of a generic
// float slice.
package num

import (
	"math"
	"unsafe"
)

// Neumaier adds x to the compensated sum (s, c) and returns the new pair.
// The represented value is s + c (Neumaier's variant of Kahan summation).
func Neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

// Finite reports whether every x is neither NaN nor ±Inf.
func Finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// As32 reinterprets a slice whose element type has float32 as underlying
// type as []float32, without copying; nil and empty slices give nil. It
// panics when the elements are not 4 bytes wide.
func As32[F ~float32 | ~float64](x []F) []float32 {
	if len(x) == 0 {
		return nil
	}
	if unsafe.Sizeof(x[0]) != 4 {
		panic("num: As32 of 8-byte floats")
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}

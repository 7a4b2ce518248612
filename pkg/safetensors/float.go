package safetensors

import (
	"encoding/binary"
	"math"
)

// IsFloat reports whether dtype is one of the float dtypes that convert to
// and from float32: F32, F16 (IEEE 754 binary16) and BF16 (bfloat16, the top
// half of a float32).
func IsFloat(dtype string) bool { return dtype == "F32" || dtype == "F16" || dtype == "BF16" }

// DecodeFloat32s converts little-endian src of dtype F32, F16 or BF16 to
// float32 into dst (len(src) = len(dst) × the dtype size). The conversion is
// exact: every F16 and BF16 value, NaN payloads included, is a float32.
// It panics on another dtype or a length mismatch.
func DecodeFloat32s(dst []float32, dtype string, src []byte) {
	size, _ := DTypeSize(dtype)
	if !IsFloat(dtype) || len(src) != size*len(dst) {
		panic("safetensors: DecodeFloat32s: bad dtype or length")
	}
	switch dtype {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "F16":
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	}
}

// EncodeFloat32s returns src in dtype F32, F16 or BF16, little-endian,
// rounding to nearest, ties to even (F16 and BF16; values beyond the largest
// finite F16 become ±Inf, NaNs stay NaNs). A value that came from that dtype
// converts back to the same bits. It panics on another dtype.
func EncodeFloat32s(dtype string, src []float32) []byte {
	size, _ := DTypeSize(dtype)
	if !IsFloat(dtype) {
		panic("safetensors: EncodeFloat32s: dtype " + dtype + " is not F32, F16 or BF16")
	}
	b := make([]byte, size*len(src))
	switch dtype {
	case "F32":
		for i, v := range src {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case "F16":
		for i, v := range src {
			binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(v))
		}
	case "BF16":
		for i, v := range src {
			binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(v))
		}
	}
	return b
}

// Floats returns a Tensor of dtype F32, F16 or BF16 holding data converted by
// [EncodeFloat32s]. It panics if len(data) is not the product of shape.
func Floats(name, dtype string, shape []int, data []float32) Tensor {
	checkLen(len(data), shape)
	return Tensor{Name: name, DType: dtype, Shape: append([]int(nil), shape...), Data: EncodeFloat32s(dtype, data)}
}

// F16ToFloat32 returns the IEEE 754 binary16 value h as a float32 (exact).
//
//	h = s eeeee mmmmmmmmmm:  e = 0: (-1)^s · m · 2^-24 (zero, subnormal)
//	                         e = 31: ±Inf (m = 0) or NaN (payload m kept in the top bits)
//	                         else: (-1)^s · (1 + m/1024) · 2^(e-15)
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	e := uint32(h>>10) & 0x1f
	m := uint32(h) & 0x3ff
	switch {
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | m<<13)
	case e != 0:
		return math.Float32frombits(sign | (e+127-15)<<23 | m<<13)
	case m == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: m·2^-24, exact in float32.
	v := float32(m) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(v))
}

// Float32ToF16 returns the binary16 nearest to f, ties to even. Values whose
// magnitude rounds beyond 65504 become ±Inf; a NaN keeps the top 10 bits of
// its payload (and stays a NaN).
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	e := int32(b>>23) & 0xff
	m := b & 0x7fffff
	if e == 0xff {
		if m == 0 {
			return sign | 0x7c00
		}
		p := uint16(m >> 13)
		if p == 0 {
			p = 0x200 // a payload only in the low bits: keep a quiet NaN
		}
		return sign | 0x7c00 | p
	}
	// Unbiased exponent, and the value as an integer significand with the
	// implicit bit: f = mant · 2^(ue-23).
	ue := e - 127
	mant := m | 0x800000
	if e == 0 { // float32 subnormal: far below the smallest F16 subnormal
		return sign
	}
	var shift int32 // bits of mant to drop
	var he uint16   // biased F16 exponent of the result (before rounding carries)
	if ue >= -14 {
		shift, he = 13, uint16(ue+15)
	} else {
		shift, he = int32(13+(-14-ue)), 0
		if shift > 24 { // below half the smallest subnormal: rounds to zero
			return sign
		}
	}
	q := mant >> shift
	rem := mant & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	if he == 0 {
		// Subnormal result: q counts units of 2^-24 (q may carry into the
		// smallest normal, 0x400, which is the right encoding too).
		return sign | uint16(q)
	}
	// Normal: q = 1.mmmmmmmmmm in 11 bits; a carry to 2^11 bumps the exponent.
	if q == 0x800 {
		q >>= 1
		he++
	}
	if he >= 0x1f {
		return sign | 0x7c00
	}
	return sign | he<<10 | uint16(q&0x3ff)
}

// Float32ToBF16 returns the bfloat16 nearest to f (the top 16 bits of a
// float32, rounded to nearest, ties to even); a NaN stays a NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		hi := uint16(b >> 16)
		if hi&0x7f == 0 {
			hi |= 0x40 // a payload only in the low bits: keep a quiet NaN
		}
		return hi
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

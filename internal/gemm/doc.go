// Package gemm provides serial float32 matrix products for the model's Linear
// layers, with SIMD kernels (AVX-512, AVX2+FMA) chosen at run time and a pure-Go
// reference. Design notes and measurements: see the end of this comment.
//
// The three products, row-major with leading dimensions, accumulate into c:
//
//	NT: c[m,n] += a[m,k]·b[n,k]ᵀ    forward,        out  += inp·Wᵀ
//	NN: c[m,n] += a[m,k]·b[k,n]     input gradient, dinp += dout·W
//	TN: c[m,n] += a[k,m]ᵀ·b[k,n]    weight gradient, dW  += doutᵀ·inp
//
// Determinism contract: every c[i,j] is one float32 accumulator that starts at
// the old c[i,j] and takes its k products in increasing k order, each with one
// fused multiply-add (a single rounding). The AVX-512, AVX2 and generic paths
// therefore give identical bits on every machine, for every shape, leading
// dimension and row split; the tests check this bit for bit. The calls are
// serial: callers parallelize by giving goroutines disjoint row ranges of c.
//
// Selection: Impl reports the implementation in use. By default it is the best
// the CPU supports (golang.org/x/sys/cpu): "avx512" with AVX-512F, else "avx2"
// with AVX2 and FMA, else "generic". ENTANGLE_GEMM=generic|avx2|avx512 forces
// one at package initialization; an unknown or unsupported value falls back to
// the default with a warning on stderr. Builds for other architectures, or with
// the purego tag, have only "generic".
//
// Kernel design (GotoBLAS/BLIS-style, Goto & van de Geijn, ACM TOMS 34(3), 2008):
// op(b) is packed in blocks of blockK×blockN (256×1024) into strips of nr
// columns; op(a) in blocks of mc×blockK rows into panels of mr rows, step-major
// (mr floats per k step). A micro-kernel keeps an mr×nr tile of c in vector
// registers, and per k step loads nr/width vectors of b, broadcasts each of the
// mr values of a and issues mr·nr/width FMAs. AVX-512: mr=12, nr=32 (24 zmm
// accumulators, 2 for b, 2 broadcast temporaries of 32 registers). AVX2: mr=6,
// nr=16 (12 ymm accumulators + 3 of 16). The k loop is unrolled 4 times. There
// are kernels for every row count 1..mr, so row edges run without copies;
// column edges run the full-width kernel on a copied tile. Splitting k into
// blocks stores and reloads c between blocks, which in float32 is exact, so
// the blocking does not change a bit. The kernels are generated with avo
// (github.com/mmcloughlin/avo) by _gen/main.go, a module of its own.
//
// The generic path computes fma32 (an exact float32 FMA emulated with float64
// arithmetic and a TwoSum correction for double rounding) in the same order.
// It is slow (for reference and portability, not for training).
package gemm

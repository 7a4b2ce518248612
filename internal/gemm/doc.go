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
// Selection: Impl reports the implementation in use and Selection why. It is
// chosen on first use: ENTANGLE_GEMM=generic|avx2|avx512 forces one (an
// unknown or unsupported value falls back to the default with a warning on
// stderr); otherwise a CPU that runs only one SIMD family uses it ("avx2" needs
// AVX2 and FMA, "avx512" AVX-512F as well), and a CPU that runs both uses the
// faster at the model's shapes: its entry in speedTable (vendor, family,
// model from CPUID, with the measurement behind it) or, for a CPU not listed, a
// calibration of about 20 ms (both families timed alternately on six of the
// model's products, the forward, input and weight gradients of S's and M's
// qkv Linear; each product's best of 4 rounds, summed; the wider kept unless
// the other is more than 5 % faster; under a load of 16 on 2 cores it gave
// avx512 1234-1285 µs vs avx2 2164-2185 µs here). Speed is all that can
// differ: every family gives the same bits. AVX-512 is not always faster: AMD
// Zen 4 executes it in two 256-bit halves. Builds for other architectures, or
// with the purego tag, have only "generic". scripts/bench/gemm.sh measures both families side by side and
// prints the table row for the CPU it runs on.
//
// Kernel design (GotoBLAS/BLIS-style, Goto & van de Geijn, ACM TOMS 34(3), 2008):
// op(b) is packed in blocks of blockK×blockN (256×1024) into strips of nr
// columns; a transposed op(a) (TN) in blocks of mc×blockK rows into panels of
// up to mr rows, step-major (mr floats per k step), while a row-major op(a)
// (NT, NN) is read in place by row kernels that broadcast from the panel's
// rows lda apart (the same loads and FMAs; skipping the pack made NT and NN
// 1-10 % faster at the model's shapes, interleaved best-of-40 timings on a
// shared machine). A micro-kernel keeps an r×nr tile of c (r ≤ mr) in vector
// registers, and per k step loads nr/width vectors of b, broadcasts each of
// the r values of a and issues r·nr/width FMAs. AVX-512: mr=12, nr=32 (24 zmm
// accumulators, 2 for b, a broadcast temporary, of 32 registers). AVX2: mr=6,
// nr=16 (12 ymm accumulators + 3 of 16). The k loop is unrolled 4 times.
// There are kernels for every row count 1..mr; the m rows of a product are
// split into ⌈m/mr⌉ panels whose heights differ by at most one (64 rows as
// 11,11,11,11,10,10 rather than five of 12 and one of 4, whose kernel keeps too
// few accumulators busy), so row edges need neither copies nor short kernels.
// Column edges run the full-width kernel on a copied tile. The micro-kernel
// walks c by panels of rows, each from left to right (the panel of a in L1,
// the strips of b from L2, each row of c in increasing addresses for the
// hardware prefetcher: with the model's small k, c's traffic limits). Splitting
// k into blocks stores and reloads c between blocks, which in float32 is exact,
// so the blocking does not change a bit; neither do the row split and the
// order of the tiles, each c[i,j] being its own accumulator. The kernels are
// generated with avo (github.com/mmcloughlin/avo) by _gen/main.go, a module of
// its own.
//
// Packing a row-major operand into step-major panels (B of NT when not packed
// once with Pack) is a transpose; it uses AVX 8×8 and 4×4 block transposes (also generated),
// which doubled NT's speed at m=64 over element-by-element packing: with few
// rows per call, packing costs as much as the products unless it is SIMD too.
// The workspaces (≈1.2 MB each, one per concurrent caller) live on a free list
// that the garbage collector never empties, so steady-state calls do not allocate.
//
// Measured (scripts/bench/gemm.sh, one invocation, 2-core Sapphire Rapids-class
// VM reporting family 6 model 167, shared with other jobs, best of 3; torch
// 1.13 + OpenBLAS 0.3.21 openmp;
// torch.mm 1024² reached 153 GFLOP/s on 1 thread, 317 on 2), GFLOP/s:
//
//	shape (op_m_n_k)      avx512  avx2  generic  torch 1 thr  torch 2 thr
//	NT_64_384_128 (S qkv)    138   101     0.7        96         143
//	NN_64_128_512 (S fc_pr)  126    83     0.7       117         143
//	TN_512_128_64 (S dW fc)  142    83     0.7       123         114
//	NT_128_768_256 (M qkv)   158   105     0.7       132         203
//	NN_128_256_1024 (M)      150    91     0.7       139         221
//	TN_1024_256_128 (M dW)   151    93     0.7       160         184
//	NT_1024_1024_1024        168   101      -        155         320
//
// Over every model shape the serial avx512 kernel ran at 0.94-1.50× torch.mm on
// one thread and 0.53-1.39× torch.mm on two threads.
//
// On a 2-core Xeon reporting family 6 model 207 (2026-12-06, a machine loaded
// 14-17 by other jobs, so GFLOP/s by the process's CPU time, best of 3
// interleaved runs): every S and M product of BenchmarkGEMM ran at 138-160
// GFLOP/s with avx512, i.e. 86-100 % of the best product rate measured (160),
// and 76-81 with avx2 (1.8-2.0× slower: its FMAs are half as wide, the same
// fraction of its own peak). GPT-2 small's Linear products (T 64, C 768) ran
// at 139-160 with the weights packed once (MulPacked), its weight gradients
// (TN, k = 64) at 136-142. Its LM head (V 50257, 154 MB of weights) is bound
// by memory, not by the kernel: each product on one sequence's rows streams
// the whole head, so MulPacked reached 72-75 GFLOP/s on 32 rows, 93-100 on
// 64 and 112-124 on 128, and the head's weight gradient (TN, k = 32: 154 MB
// read and written) 60; only more rows per pass over the head (stacked
// sequences) would raise it.
//
// Pack and MulPacked pack a B operand once for many products (the model packs
// its weights once per training step instead of once per product); same bits.
// NTSet, NNSet, TNSet, MulPackedSet and ColSumSet overwrite instead of
// accumulating, with the bits of clearing c first and accumulating, for
// outputs that would otherwise be zeroed in a separate pass (gradient
// buffers, attention scores, a Linear's output without bias). The
// micro-kernels take a flag zero: the kernels of the first k block start
// their accumulators at +0 instead of loading c, so c is written, never
// read; fma(a, b, +0) rounds exactly as on a c cleared to +0 (a product of
// -0 gives +0 in both). TestSetIgnoresC fills c with NaN, -0, -Inf and 3e38
// first. Against clearing each tile just before the kernel, TNSet ran 12-30 %
// faster at the S and M weight-gradient shapes and MulPackedSet 3-4 % at M
// (with reading b in place, below; best of 6 interleaved runs, GFLOP/s by
// thread CPU time, on the model-207 Xeon loaded 15 by other jobs).
//
// A row-major op(b) (NN, TN: a weight gradient's layer input, attention's v
// and q) is not packed per call when its rows are at most 4 KiB apart
// (ldb ≤ 1024): the micro-kernel reads each full strip of nr columns in place,
// k rows ldb floats apart (its bs), the same loads in the same order; only a
// last partial strip is packed. This removed most of packB's time (4.4 % of
// the M step's CPU profile → 1.1 %). Rows further apart are packed: in place,
// GPT-2 small's fc_proj weight gradient (ldb 3072) ran 20 % slower.
//
// Beyond the products, the package holds the model's float32 elementwise
// kernels: Exp (Cody-Waite reduction and a degree-7 Taylor polynomial, within
// 2 ulps of e^x over the normal range, tested against math.Exp), GELU and
// GELUBackward (tanh form through exp, with 1 ± tanh kept relatively accurate),
// ColSum (a bias gradient's column sums) and PairBlock (the preference step's
// per-pair axpy and dot products, in 16 float64 lanes). Each has a scalar Go
// reference whose float32 operation sequence the AVX-512 and the AVX2 kernels
// (_gen/elementwise.go, _gen/elementwise_avx2.go, _gen/pair.go, _gen/pack.go)
// follow lane by lane, so kernels and reference give identical bits (tested:
// the exp and GELU kernels on every float32 of the ranges where they clamp,
// round to denormals or overflow, and avx512 against avx2 on all 2^32 inputs
// with ENTANGLE_EXHAUSTIVE=1, on every 257th block of 2^16 by default).
// The kernels of the implementation in use run; with "generic" the scalar code.
//
// The generic path computes fma32 (an exact float32 FMA emulated with float64
// arithmetic and a TwoSum correction for double rounding) in the same order.
// On amd64 it is slow (about 0.8 GFLOP/s: for reference and portability, not
// for training); on arm64 the compiler turns fma32's x*y+z into one FMADDS
// instruction, the same single rounding, several times faster.
package gemm

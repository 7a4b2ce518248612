package model

import (
	"math"
	"unsafe"

	"entangle/internal/gemm"
)

// attentionForward is causal multi-head self-attention on the fused qkv rows:
//
//	q_t, k_t, v_t = qkv[t, 0:C], qkv[t, C:2C], qkv[t, 2C:3C]; head h uses columns h·hs..(h+1)·hs
//	att[h,t,s] = softmax_{s≤t}( q_t·k_s / sqrt(hs) )   (0 for s > t: the causal mask)
//	out[t, h·hs+i] = Σ_{s≤t} att[h,t,s]·v_s[h·hs+i]
//
// out is (T,C); att is (H,T,T), cached for the backward pass; qkv is (T,3C).
func attentionForward[F Float](out, att, qkv []F, T, C, H int) {
	attentionForwardHeads(out, att, qkv, T, C, H, 0, 0, H)
}

// attentionForwardHeads is attentionForward for the query positions t0..T-1
// of heads h0..h1-1; heads are independent, and so are query positions given
// the cached keys and values of positions < t0 (causal mask). float32 runs the
// products on internal/gemm's kernels (attentionForwardGemm); float64 keeps
// the loops of attentionForwardNaive.
func attentionForwardHeads[F Float](out, att, qkv []F, T, C, H, t0, h0, h1 int) {
	gqaForwardHeads(out, att, qkv, T, H, H, C/H, t0, h0, h1)
}

// gqaForwardHeads is attentionForwardHeads with grouped-query attention: the
// qkv rows are [q (H·hs); k (KV·hs); v (KV·hs)] and query head h reads key
// and value head h/(H/KV). KV = H is multi-head attention.
func gqaForwardHeads[F Float](out, att, qkv []F, T, H, KV, hs, t0, h0, h1 int) {
	if unsafe.Sizeof(F(0)) == 4 {
		attentionForwardGemm(as32(out), as32(att), as32(qkv), T, H, KV, hs, t0, h0, h1)
		return
	}
	gqaForwardNaive(out, att, qkv, T, H, KV, hs, t0, h0, h1)
}

// attentionForwardNaive is attentionForwardHeads with plain loops: the float64
// path and the reference the float32 GEMM path is tested against.
func attentionForwardNaive[F Float](out, att, qkv []F, T, C, H, t0, h0, h1 int) {
	gqaForwardNaive(out, att, qkv, T, H, H, C/H, t0, h0, h1)
}

// gqaForwardNaive is attentionForwardNaive with grouped-query attention (see gqaForwardHeads).
func gqaForwardNaive[F Float](out, att, qkv []F, T, H, KV, hs, t0, h0, h1 int) {
	scale := F(1 / math.Sqrt(float64(hs)))
	C := H * hs
	C3 := (H + 2*KV) * hs
	for h := h0; h < h1; h++ {
		ko, vo := C+(h/(H/KV))*hs, C+(KV+h/(H/KV))*hs // k and v columns of head h
		for t := t0; t < T; t++ {
			q := qkv[t*C3+h*hs : t*C3+(h+1)*hs] // seek to q of head h at t
			a := att[h*T*T+t*T : h*T*T+(t+1)*T] // att[h,t,:]
			maxv := F(math.Inf(-1))
			for s := 0; s <= t; s++ {
				k := qkv[s*C3+ko : s*C3+ko+hs]
				var d F
				for i, qi := range q {
					d += qi * k[i]
				}
				d *= scale
				a[s] = d
				maxv = max(maxv, d)
			}
			var sum F
			for s := 0; s <= t; s++ {
				e := F(math.Exp(float64(a[s] - maxv)))
				a[s] = e
				sum += e
			}
			inv := 1 / sum
			for s := 0; s <= t; s++ {
				a[s] *= inv
			}
			for s := t + 1; s < T; s++ {
				a[s] = 0
			}
			o := out[t*C+h*hs : t*C+(h+1)*hs]
			clear(o)
			for s := 0; s <= t; s++ {
				v := qkv[s*C3+vo : s*C3+vo+hs]
				w := a[s]
				for i := range o {
					o[i] += w * v[i]
				}
			}
		}
	}
}

// attentionBackward accumulates dqkv from dout, given the cached att.
// datt is (H,T,T) scratch (one T×T matrix per head). dqkv, qkv are (T,3C); dout is (T,C); att is (H,T,T).
func attentionBackward[F Float](dqkv, datt, dout, qkv, att []F, T, C, H int) {
	attentionBackwardHeads(dqkv, datt, dout, qkv, att, T, C, H, 0, H)
}

// attentionBackwardHeads is attentionBackward for heads h0..h1-1; head h only
// touches columns h·hs..(h+1)·hs of q, k, v and block h of datt. float32 runs
// the products on internal/gemm's kernels (attentionBackwardGemm); float64 keeps
// the loops of attentionBackwardNaive.
func attentionBackwardHeads[F Float](dqkv, datt, dout, qkv, att []F, T, C, H, h0, h1 int) {
	gqaBackwardHeads(dqkv, datt, dout, qkv, att, T, H, H, C/H, h0, h1)
}

// gqaBackwardHeads is attentionBackwardHeads with grouped-query attention
// (see gqaForwardHeads). The query heads of one key/value head add into the
// same dk, dv columns, in increasing h: a parallel split must keep each
// group h0..h1 whole (h0, h1 multiples of H/KV).
func gqaBackwardHeads[F Float](dqkv, datt, dout, qkv, att []F, T, H, KV, hs, h0, h1 int) {
	if unsafe.Sizeof(F(0)) == 4 {
		attentionBackwardGemm(as32(dqkv), as32(datt), as32(dout), as32(qkv), as32(att), T, H, KV, hs, h0, h1)
		return
	}
	gqaBackwardNaive(dqkv, datt, dout, qkv, att, T, H, KV, hs, h0, h1)
}

// attentionBackwardNaive is attentionBackwardHeads with plain loops (the
// float64 path and the float32 reference); it uses only the first T values of
// each head's datt block.
func attentionBackwardNaive[F Float](dqkv, datt, dout, qkv, att []F, T, C, H, h0, h1 int) {
	gqaBackwardNaive(dqkv, datt, dout, qkv, att, T, H, H, C/H, h0, h1)
}

// gqaBackwardNaive is attentionBackwardNaive with grouped-query attention (see gqaBackwardHeads).
func gqaBackwardNaive[F Float](dqkv, datt, dout, qkv, att []F, T, H, KV, hs, h0, h1 int) {
	scale := F(1 / math.Sqrt(float64(hs)))
	C := H * hs
	C3 := (H + 2*KV) * hs
	for h := h0; h < h1; h++ {
		ko, vo := C+(h/(H/KV))*hs, C+(KV+h/(H/KV))*hs
		da := datt[h*T*T : h*T*T+T]
		for t := T - 1; t >= 0; t-- {
			a := att[h*T*T+t*T : h*T*T+(t+1)*T]
			g := dout[t*C+h*hs : t*C+(h+1)*hs]
			// in the forward pass this was: out[t,i] = Σ_s att[t,s]·v_s[i], so
			// datt[t,s] = dout[t,:]·v_s and dv_s += att[t,s]·dout[t,:]
			for s := 0; s <= t; s++ {
				v := qkv[s*C3+vo : s*C3+vo+hs]
				dv := dqkv[s*C3+vo : s*C3+vo+hs]
				var d F
				w := a[s]
				for i, gi := range g {
					d += gi * v[i]
					dv[i] += w * gi
				}
				da[s] = d
			}
			// softmax: att = softmax(pre), so dpre[s] = att[s]·(datt[s] - Σ_r att[r]·datt[r])
			var dot F
			for s := 0; s <= t; s++ {
				dot += a[s] * da[s]
			}
			// pre[t,s] = q_t·k_s·scale, so dq_t += dpre[s]·scale·k_s, dk_s += dpre[s]·scale·q_t
			q := qkv[t*C3+h*hs : t*C3+(h+1)*hs]
			dq := dqkv[t*C3+h*hs : t*C3+(h+1)*hs]
			for s := 0; s <= t; s++ {
				dpre := a[s] * (da[s] - dot) * scale
				k := qkv[s*C3+ko : s*C3+ko+hs]
				dk := dqkv[s*C3+ko : s*C3+ko+hs]
				for i := range dq {
					dq[i] += dpre * k[i]
					dk[i] += dpre * q[i]
				}
			}
		}
	}
}

// attBlock is the row block of the GEMM attention: the rows of query positions
// b·attBlock..(b+1)·attBlock-1 take their products over the key positions
// 0..(b+1)·attBlock-1 only (the rest are masked). Blocks are fixed in absolute
// positions, so a row's bits do not depend on t0 (ForwardReuse) or on the split.
const attBlock = 32

// attentionForwardGemm is attentionForwardHeads in float32 with the two
// products on gemm's kernels, per head h and row block [r0, r1) with key
// columns [0, kc), kc the block's end:
//
//	att[h, r0:r1, 0:kc] = q[r0:r1]·k[0:kc]ᵀ (NTSet), then ·scale and the causal softmax per row (softmaxRow)
//	out[r0:r1, head h] = att[h, r0:r1, 0:kc]·v[0:kc] (NNSet; att is 0 past the diagonal)
//
// The Set products write their outputs without reading them (the bits of
// clearing them first, without the pass).
//
// Each product element is one fused multiply-add chain in increasing k (gemm's
// contract), so results do not depend on how heads or rows are split.
func attentionForwardGemm(out, att, qkv []float32, T, H, KV, hs, t0, h0, h1 int) {
	scale := float32(1 / math.Sqrt(float64(hs)))
	C := H * hs
	C3 := (H + 2*KV) * hs
	simdExp := gemm.ElementwiseSIMD() // else math.Exp: gemm's scalar Exp is slower
	for h := h0; h < h1; h++ {
		ko, vo := C+(h/(H/KV))*hs, C+(KV+h/(H/KV))*hs // k and v columns of head h
		ah := att[h*T*T : (h+1)*T*T]
		for b0 := t0 - t0%attBlock; b0 < T; b0 += attBlock {
			r0, r1 := max(b0, t0), min(b0+attBlock, T)
			if r0 >= r1 {
				break
			}
			kc := r1
			gemm.NTSet(ah[r0*T:], T, qkv[r0*C3+h*hs:], C3, qkv[ko:], C3, r1-r0, kc, hs)
			for t := r0; t < r1; t++ {
				a := ah[t*T : (t+1)*T]
				softmaxRow(a[:t+1], scale, simdExp)
				clear(a[t+1:])
			}
			gemm.NNSet(out[r0*C+h*hs:], C, ah[r0*T:], T, qkv[vo:], C3, r1-r0, hs, kc)
		}
	}
}

// attentionBackwardGemm is attentionBackwardHeads in float32 with the four
// products on gemm's kernels; per head h, with P = att[h] and D = datt[h]
// (T×T scratch: row t of a row block [b0, b1) is set in columns 0..b1-1, zero
// past the diagonal; later columns are neither written nor read), g = dout's
// head columns:
//
//	D[t,s]  = g_t·v_s                           (NTSet, row blocks as in the forward)
//	D[t,s] ← P[t,s]·(D[t,s] - Σ_r P[t,r]·D[t,r])·scale   (softmax backward, row-wise; the sum as dot4)
//	dq += D·k (NN),  dv += Pᵀ·g (TN),  dk += Dᵀ·q (TN)
//
// For the TN products the key block [b0, b1) sums over queries t ≥ b0 only
// (entries with t < s are zero).
func attentionBackwardGemm(dqkv, datt, dout, qkv, att []float32, T, H, KV, hs, h0, h1 int) {
	scale := float32(1 / math.Sqrt(float64(hs)))
	C := H * hs
	C3 := (H + 2*KV) * hs
	for h := h0; h < h1; h++ {
		P, D := att[h*T*T:(h+1)*T*T], datt[h*T*T:(h+1)*T*T]
		ko, vo := C+(h/(H/KV))*hs, C+(KV+h/(H/KV))*hs
		q, k, v := qkv[h*hs:], qkv[ko:], qkv[vo:]
		dq, dk, dv := dqkv[h*hs:], dqkv[ko:], dqkv[vo:]
		g := dout[h*hs:]
		for b0 := 0; b0 < T; b0 += attBlock {
			b1 := min(b0+attBlock, T)
			gemm.NTSet(D[b0*T:], T, g[b0*C:], C, v, C3, b1-b0, b1, hs)
			for t := b0; t < b1; t++ {
				p, d := P[t*T:t*T+t+1], D[t*T:t*T+t+1]
				dot := dot4(p, d)
				for s, ps := range p {
					d[s] = ps * (d[s] - dot) * scale
				}
				clear(D[t*T+t+1 : t*T+b1])
			}
			gemm.NN(dq[b0*C3:], C3, D[b0*T:], T, k, C3, b1-b0, hs, b1)
		}
		for b0 := 0; b0 < T; b0 += attBlock {
			b1 := min(b0+attBlock, T)
			gemm.TN(dv[b0*C3:], C3, P[b0*T+b0:], T, g[b0*C:], C, b1-b0, hs, T-b0)
			gemm.TN(dk[b0*C3:], C3, D[b0*T+b0:], T, q[b0*C3:], C3, b1-b0, hs, T-b0)
		}
	}
}

// softmaxRow sets a row of attention scores x (the causal row, s ≤ t) to
// softmax(scale·x) in float32:
//
//	y[s] = scale·x[s],  m = max_s y[s],  e[s] = exp(y[s] - m),  x[s] = e[s]·(1/Σ_s e[s])
//
// exp is gemm.Exp where it runs on SIMD kernels, else float64 math.Exp
// rounded (gemm's scalar Exp is slower). The maximum is taken in four
// interleaved lanes (max is exact, so the lanes change nothing) and the sum
// as sum4, whose fixed order does not depend on where the row came from (a
// row's bits are the same from ForwardReuse's t0 and for any split).
func softmaxRow(x []float32, scale float32, simdExp bool) {
	n := len(x)
	ninf := float32(math.Inf(-1))
	m0, m1, m2, m3 := ninf, ninf, ninf, ninf
	s := 0
	for ; s+4 <= n; s += 4 {
		v := x[s : s+4 : s+4]
		v[0] *= scale
		v[1] *= scale
		v[2] *= scale
		v[3] *= scale
		m0, m1, m2, m3 = max(m0, v[0]), max(m1, v[1]), max(m2, v[2]), max(m3, v[3])
	}
	for ; s < n; s++ {
		x[s] *= scale
		m0 = max(m0, x[s])
	}
	m := max(max(m0, m1), max(m2, m3))
	if simdExp {
		for s := range x {
			x[s] -= m
		}
		gemm.Exp(x, x)
	} else {
		for s, v := range x {
			x[s] = float32(math.Exp(float64(v - m)))
		}
	}
	inv := 1 / sum4(x)
	for s := range x {
		x[s] *= inv
	}
}

// sum4 returns Σ x[s] in float32 over four interleaved lanes: lane j adds
// the x[s] with s ≡ j (mod 4) in increasing s, and the lanes are combined as
// (l0 + l1) + (l2 + l3).
// Four independent chains hide the latency of the additions that one chain
// pays per element; the order is fixed, so the bits are the same everywhere.
func sum4(x []float32) float32 {
	var l0, l1, l2, l3 float32
	s := 0
	for ; s+4 <= len(x); s += 4 {
		v := x[s : s+4 : s+4]
		l0 += v[0]
		l1 += v[1]
		l2 += v[2]
		l3 += v[3]
	}
	t := x[s:]
	if len(t) > 0 {
		l0 += t[0]
	}
	if len(t) > 1 {
		l1 += t[1]
	}
	if len(t) > 2 {
		l2 += t[2]
	}
	return (l0 + l1) + (l2 + l3)
}

// dot4 returns Σ p[s]·d[s] in float32 in sum4's four lanes and order, each
// product rounded to float32 before its addition (the explicit conversions
// forbid the compiler to fuse them into FMAs, so the bits do not depend on the
// architecture or GOAMD64).
func dot4(p, d []float32) float32 {
	d = d[:len(p)]
	var l0, l1, l2, l3 float32
	s := 0
	for ; s+4 <= len(p); s += 4 {
		u, v := p[s:s+4:s+4], d[s:s+4:s+4]
		l0 += float32(u[0] * v[0])
		l1 += float32(u[1] * v[1])
		l2 += float32(u[2] * v[2])
		l3 += float32(u[3] * v[3])
	}
	for j := s; j < len(p); j++ {
		switch j - s {
		case 0:
			l0 += float32(p[j] * d[j])
		case 1:
			l1 += float32(p[j] * d[j])
		case 2:
			l2 += float32(p[j] * d[j])
		}
	}
	return (l0 + l1) + (l2 + l3)
}

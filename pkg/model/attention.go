package model

import "math"

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
// the cached keys and values of positions < t0 (causal mask).
func attentionForwardHeads[F Float](out, att, qkv []F, T, C, H, t0, h0, h1 int) {
	hs := C / H
	scale := F(1 / math.Sqrt(float64(hs)))
	C3 := 3 * C
	for h := h0; h < h1; h++ {
		for t := t0; t < T; t++ {
			q := qkv[t*C3+h*hs : t*C3+(h+1)*hs] // seek to q of head h at t
			a := att[h*T*T+t*T : h*T*T+(t+1)*T] // att[h,t,:]
			maxv := F(math.Inf(-1))
			for s := 0; s <= t; s++ {
				k := qkv[s*C3+C+h*hs : s*C3+C+(h+1)*hs]
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
				v := qkv[s*C3+2*C+h*hs : s*C3+2*C+(h+1)*hs]
				w := a[s]
				for i := range o {
					o[i] += w * v[i]
				}
			}
		}
	}
}

// attentionBackward accumulates dqkv from dout, given the cached att.
// datt is (H,T) scratch (one row per head). dqkv, qkv are (T,3C); dout is (T,C); att is (H,T,T).
func attentionBackward[F Float](dqkv, datt, dout, qkv, att []F, T, C, H int) {
	attentionBackwardHeads(dqkv, datt, dout, qkv, att, T, C, H, 0, H)
}

// attentionBackwardHeads is attentionBackward for heads h0..h1-1; head h only
// touches columns h·hs..(h+1)·hs of q, k, v and row h of datt.
func attentionBackwardHeads[F Float](dqkv, datt, dout, qkv, att []F, T, C, H, h0, h1 int) {
	hs := C / H
	scale := F(1 / math.Sqrt(float64(hs)))
	C3 := 3 * C
	for h := h0; h < h1; h++ {
		da := datt[h*T : (h+1)*T]
		for t := T - 1; t >= 0; t-- {
			a := att[h*T*T+t*T : h*T*T+(t+1)*T]
			g := dout[t*C+h*hs : t*C+(h+1)*hs]
			// in the forward pass this was: out[t,i] = Σ_s att[t,s]·v_s[i], so
			// datt[t,s] = dout[t,:]·v_s and dv_s += att[t,s]·dout[t,:]
			for s := 0; s <= t; s++ {
				v := qkv[s*C3+2*C+h*hs : s*C3+2*C+(h+1)*hs]
				dv := dqkv[s*C3+2*C+h*hs : s*C3+2*C+(h+1)*hs]
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
				k := qkv[s*C3+C+h*hs : s*C3+C+(h+1)*hs]
				dk := dqkv[s*C3+C+h*hs : s*C3+C+(h+1)*hs]
				for i := range dq {
					dq[i] += dpre * k[i]
					dk[i] += dpre * q[i]
				}
			}
		}
	}
}

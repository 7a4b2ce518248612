package model

import (
	"math"
	"unsafe"

	"entangle/internal/gemm"
)

// logProbForward computes the log-probability of each target token under the
// softmax of its logits row, and caches the probabilities:
//
//	probs[j,v] = exp(logits[j,v]) / Σ_u exp(logits[j,u])   (max-subtracted)
//	lp[j]      = logits[j,y_j] - log Σ_u exp(logits[j,u])
//
// lp, targets are (R); probs, logits are (R,V). Summation is in float64.
// float32 takes the exponentials with gemm.Exp (float32, within 2 ulps) where
// gemm has SIMD kernels for it.
func logProbForward[F Float](lp, probs, logits []F, targets []int32, R, V int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		logProbForward32(as32(lp), as32(probs), as32(logits), targets, R, V)
		return
	}
	for j := 0; j < R; j++ {
		z := logits[j*V : (j+1)*V]
		p := probs[j*V : (j+1)*V]
		maxv := z[0]
		for _, v := range z[1:] {
			maxv = max(maxv, v)
		}
		var sum float64
		for v, zv := range z {
			e := math.Exp(float64(zv - maxv))
			p[v] = F(e)
			sum += e
		}
		inv := 1 / sum
		for v := range p {
			p[v] = F(float64(p[v]) * inv)
		}
		lp[j] = F(float64(z[targets[j]]-maxv) - math.Log(sum))
	}
}

// logProbForward32 is logProbForward in float32 with gemm.Exp.
func logProbForward32(lp, probs, logits []float32, targets []int32, R, V int) {
	for j := 0; j < R; j++ {
		z := logits[j*V : (j+1)*V]
		p := probs[j*V : (j+1)*V]
		maxv := z[0]
		for _, v := range z[1:] {
			maxv = max(maxv, v)
		}
		for v, zv := range z {
			p[v] = zv - maxv
		}
		gemm.Exp(p, p)
		var sum float64
		for _, e := range p {
			sum += float64(e)
		}
		inv := 1 / sum
		for v := range p {
			p[v] = float32(float64(p[v]) * inv)
		}
		lp[j] = float32(float64(z[targets[j]]-maxv) - math.Log(sum))
	}
}

// logProbBackward accumulates the logits gradient of Σ_j dlp[j]·lp[j]. In the
// forward pass this was lp[j] = logits[j,y_j] - logsumexp(logits[j,:]), so
//
//	dlogits[j,v] += dlp[j]·(1[v = y_j] - probs[j,v])
//
// dlogits, probs are (R,V); dlp, targets are (R).
func logProbBackward[F Float](dlogits, dlp, probs []F, targets []int32, R, V int) {
	for j := 0; j < R; j++ {
		g := dlp[j]
		p := probs[j*V : (j+1)*V]
		d := dlogits[j*V : (j+1)*V]
		for v := range d {
			d[v] -= g * p[v]
		}
		d[targets[j]] += g
	}
}

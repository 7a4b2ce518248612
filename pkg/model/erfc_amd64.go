//go:build amd64 && !purego

package model

import "golang.org/x/sys/cpu"

// The AVX2 kernels of geluErf32's and swigluGrad32's steps (erfc_amd64.s): n elements, a
// multiple of 8; k is erfcK.

//go:noescape
func erfcPrepAVX2(t, arg, x *float32, n int, k *[16]float32)

//go:noescape
func geluErfOutAVX2(out, x, t, ex *float32, n int, k *[16]float32)

//go:noescape
func geluErfPhiAVX2(t, arg, x, ex *float32, n int, k *[16]float32)

//go:noescape
func geluErfGradAVX2(out, x, phi, ex, d *float32, n int, k *[16]float32)

//go:noescape
func swigluGradAVX2(dg, du, x, u, d, e *float32, n int, k *[16]float32)

func init() {
	if !cpu.X86.HasAVX2 {
		return
	}
	erfcPrepFast = func(t, arg, x []float32) int {
		n := len(x) &^ 7
		if n > 0 {
			_, _ = t[n-1], arg[n-1]
			erfcPrepAVX2(&t[0], &arg[0], &x[0], n, &erfcK)
		}
		return n
	}
	geluErfOutFast = func(out, x, t, ex []float32) int {
		n := len(x) &^ 7
		if n > 0 {
			_, _, _ = out[n-1], t[n-1], ex[n-1]
			geluErfOutAVX2(&out[0], &x[0], &t[0], &ex[0], n, &erfcK)
		}
		return n
	}
	geluErfPhiFast = func(t, arg, x, ex []float32) int {
		n := len(x) &^ 7
		if n > 0 {
			_, _, _ = t[n-1], arg[n-1], ex[n-1]
			geluErfPhiAVX2(&t[0], &arg[0], &x[0], &ex[0], n, &erfcK)
		}
		return n
	}
	geluErfGradFast = func(out, x, phi, ex, d []float32) int {
		n := len(x) &^ 7
		if n > 0 {
			_, _, _, _ = out[n-1], phi[n-1], ex[n-1], d[n-1]
			geluErfGradAVX2(&out[0], &x[0], &phi[0], &ex[0], &d[0], n, &erfcK)
		}
		return n
	}
	swigluGradFast = func(dg, du, g, u, d, e []float32) int {
		n := len(g) &^ 7
		if n > 0 {
			_, _, _, _, _ = dg[n-1], du[n-1], u[n-1], d[n-1], e[n-1]
			swigluGradAVX2(&dg[0], &du[0], &g[0], &u[0], &d[0], &e[0], n, &erfcK)
		}
		return n
	}
}

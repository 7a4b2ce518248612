//go:build amd64 && !purego

package optim

import "golang.org/x/sys/cpu"

//go:noescape
func adamwAVX2(p, gr, m, v *float32, n int, k *[12]float64)

func init() {
	if !cpu.X86.HasAVX2 {
		return
	}
	adamwFast = func(p, g, m, v []float32, k *[12]float64) int {
		n := len(p) &^ 3
		if n > 0 {
			_, _, _ = g[n-1], m[n-1], v[n-1]
			adamwAVX2(&p[0], &g[0], &m[0], &v[0], n, k)
		}
		return n
	}
}

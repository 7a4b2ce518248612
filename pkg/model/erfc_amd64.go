//go:build amd64 && !purego

package model

import "golang.org/x/sys/cpu"

//go:noescape
func erfcPrepAVX2(t, arg, x *float32, n int, k *[14]float32)

func init() {
	if cpu.X86.HasAVX2 {
		erfcPrepFast = func(t, arg, x []float32) int {
			n := len(x) &^ 7
			if n > 0 {
				erfcPrepAVX2(&t[0], &arg[0], &x[0], n, &erfcK)
			}
			return n
		}
	}
}

// Command gemminfo prints how internal/gemm selects its kernels on this
// machine, for the benchmark scripts (scripts/bench/run.sh, gemm.sh): one
// "key: value" line each for the CPU (as the speed table keys it), the
// implementations it runs, the one in use and why, and a fresh calibration.
package main

import (
	"fmt"
	"strings"

	"entangle/internal/gemm"
)

func main() {
	fmt.Printf("cpu: %s\n", gemm.ThisCPU())
	fmt.Printf("impls: %s\n", strings.Join(gemm.Impls(), " "))
	fmt.Printf("impl: %s\n", gemm.Impl())
	fmt.Printf("selection: %s\n", gemm.Selection())
	impl, why := gemm.Calibrate()
	fmt.Printf("calibration: %s: %s\n", impl, why)
}

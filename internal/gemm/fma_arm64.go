package gemm

// fma32 returns x·y+z rounded once to float32. On arm64 the Go compiler
// fuses a float32 multiply-add written this way into one FMADDS instruction
// (single rounding, the operation the amd64 kernels use), so no emulation is
// needed; TestFMA32 checks it against exact arithmetic on such a machine.
func fma32(x, y, z float32) float32 { return x*y + z }

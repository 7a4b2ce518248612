//go:build !amd64 || purego

package gemm

// supported returns the implementations this machine can run, best first:
// only the pure-Go reference on this architecture (or with the purego tag).
func supported() []*kernelSet { return []*kernelSet{generic} }

// cpuKey is the zero CPU: speedTable lists x86 models only.
func cpuKey() CPU { return CPU{} }

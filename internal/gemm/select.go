package gemm

import (
	"fmt"
	"os"
	"strings"
)

// EnvVar names the environment variable that forces an implementation:
// "generic", "avx2" or "avx512". It is read once, at package initialization.
// An unknown name, or one the CPU cannot run, falls back to the best supported
// implementation with a warning on standard error (a run never dies for it,
// and Impl reports what actually runs).
const EnvVar = "ENTANGLE_GEMM"

// generic is the pure-Go reference implementation, available everywhere.
var generic = &kernelSet{name: "generic"}

// active is the implementation NT, NN and TN use.
var active = choose(os.Getenv(EnvVar))

// Impl returns the name of the implementation in use: "avx512", "avx2" or
// "generic", for run metadata.
func Impl() string { return active.name }

// Impls returns the names of the implementations this machine can run, best
// first; the last is "generic".
func Impls() []string {
	var names []string
	for _, ks := range supported() {
		names = append(names, ks.name)
	}
	return names
}

// byName returns the supported implementation called name, or nil.
func byName(name string) *kernelSet {
	for _, ks := range supported() {
		if ks.name == name {
			return ks
		}
	}
	return nil
}

// choose picks the implementation forced by env, or the best supported one.
func choose(env string) *kernelSet {
	best := supported()[0]
	env = strings.TrimSpace(strings.ToLower(env))
	if env == "" {
		return best
	}
	if ks := byName(env); ks != nil {
		return ks
	}
	fmt.Fprintf(os.Stderr, "gemm: %s=%q is not supported here (supported: %s); using %s\n",
		EnvVar, env, strings.Join(Impls(), ", "), best.name)
	return best
}

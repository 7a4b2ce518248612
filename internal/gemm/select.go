package gemm

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// EnvVar names the environment variable that forces an implementation:
// "generic", "avx2" or "avx512". It is read once, when the package is first
// used. An unknown name, or one the CPU cannot run, falls back to the default
// choice with a warning on standard error (a run never dies for it, and Impl
// reports what actually runs).
const EnvVar = "ENTANGLE_GEMM"

// generic is the pure-Go reference implementation, available everywhere.
var generic = &kernelSet{name: "generic"}

// The implementation in use, chosen once on first use (see choose).
var (
	selectOnce sync.Once
	active     *kernelSet
	selectedBy string
)

// current returns the implementation NT, NN, TN, Pack and the elementwise
// kernels use, choosing it on the first call.
func current() *kernelSet {
	selectOnce.Do(func() {
		active, selectedBy = choose(os.Getenv(EnvVar), cpuKey(), calibrate)
	})
	return active
}

// Impl returns the name of the implementation in use: "avx512", "avx2" or
// "generic", for run metadata. Every implementation gives the same bits.
func Impl() string { return current().name }

// Selection says how Impl was chosen: forced by ENTANGLE_GEMM, the only SIMD
// implementation the CPU runs, a CPU model listed in speedTable (with the
// measurement behind the entry), or a calibration (with its timings).
func Selection() string {
	current()
	return selectedBy
}

// Impls returns the names of the implementations this machine can run, widest
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

// ThisCPU returns this machine's CPU as speedTable keys it.
func ThisCPU() CPU { return cpuKey() }

// Calibrate runs the calibration between this machine's SIMD implementations
// (whatever the selection) and returns the faster one's name and the timings;
// with fewer than two it returns the only one and says so. For benchmark
// reports: it does not change the implementation in use.
func Calibrate() (impl, detail string) {
	var cands []*kernelSet
	for _, ks := range supported() {
		if ks.kern != nil {
			cands = append(cands, ks)
		}
	}
	if len(cands) < 2 {
		return Impls()[0], "nothing to calibrate"
	}
	ks, why := calibrate(cands)
	return ks.name, why
}

// CPU identifies a processor model the way speedTable lists it: CPUID's vendor
// string and its display family and model (as Linux's /proc/cpuinfo shows them:
// "cpu family", "model"). Zero on other architectures.
type CPU struct {
	Vendor        string
	Family, Model int
}

func (c CPU) String() string {
	return fmt.Sprintf("%s family %d model %d", c.Vendor, c.Family, c.Model)
}

// speedEntry records which SIMD implementation is faster on one CPU model at
// the model's GEMM shapes, and the measurement that says so.
type speedEntry struct {
	cpu      CPU
	impl     string
	evidence string
}

// speedTable lists the CPU models whose faster implementation was measured:
// with scripts/bench/gemm.sh (every model shape, both kernels side by side in
// one invocation; it prints the row to add) or, where the entry says so, with
// the calibration's interleaved timings. On a listed CPU the default is its
// entry; on a CPU with both AVX-512 and AVX2 that is not listed, a short
// calibration decides. Add a row for a new CPU only from a gemm.sh run on a
// quiet machine.
//
// The choice changes speed only: every implementation gives identical bits.
var speedTable = []speedEntry{
	{CPU{"GenuineIntel", 6, 207}, "avx512",
		"Xeon (Emerald Rapids class, KVM guest), 2026-12-05, machine shared with other jobs: the calibration's interleaved best-of-6 timings in three runs, avx512 143-265 µs vs avx2 265-415 µs (1.6-1.9×); gemm.sh's per-shape figures were load noise there"},
	{CPU{"GenuineIntel", 6, 167}, "avx512",
		"Xeon (Sapphire Rapids-class flags, KVM guest reporting model 167), gemm.sh 2026-11 on a shared machine: avx512 126-168 GFLOP/s vs avx2 83-105 at the model's shapes (package doc)"},
}

// lookup returns the speedTable entry of c, or nil.
func lookup(c CPU) *speedEntry {
	for i := range speedTable {
		if speedTable[i].cpu == c {
			return &speedTable[i]
		}
	}
	return nil
}

// choose picks the implementation: the one env names if the CPU runs it;
// else the only SIMD implementation the CPU runs; else the speedTable entry
// of cpu; else the faster one by cal (which times the candidates; nil skips
// the calibration and takes the widest). It also says why.
func choose(env string, cpu CPU, cal func([]*kernelSet) (*kernelSet, string)) (*kernelSet, string) {
	env = strings.TrimSpace(strings.ToLower(env))
	var def *kernelSet
	var why string
	sup := supported()
	var simd []*kernelSet
	for _, ks := range sup {
		if ks.kern != nil {
			simd = append(simd, ks)
		}
	}
	switch {
	case len(simd) == 0:
		def, why = generic, "no SIMD kernels on this CPU or build"
	case len(simd) == 1:
		def, why = simd[0], "the only SIMD kernels this CPU runs"
	case lookup(cpu) != nil && byName(lookup(cpu).impl) != nil:
		e := lookup(cpu)
		def, why = byName(e.impl), fmt.Sprintf("speed table: %s: %s", cpu, e.evidence)
	case cal != nil:
		def, why = cal(simd)
	default:
		def, why = simd[0], "widest SIMD kernels (no calibration)"
	}
	if env == "" {
		return def, why
	}
	if ks := byName(env); ks != nil {
		return ks, EnvVar + "=" + env
	}
	fmt.Fprintf(os.Stderr, "gemm: %s=%q is not supported here (supported: %s); using %s\n",
		EnvVar, env, strings.Join(Impls(), ", "), def.name)
	return def, why
}

// calShapes are the products calibrate times: the forward (NT), input
// gradient (NN) and weight gradient (TN, k = the sequence's T) of S's qkv
// Linear (128 inputs, 384 outputs, 64 tokens) and of M's (256, 768, 128):
// the shapes the training step spends its GEMM time on.
var calShapes = []struct {
	transA, transB bool
	m, n, k        int
}{
	{false, true, 64, 384, 128}, {false, false, 64, 128, 384}, {true, false, 384, 128, 64},
	{false, true, 128, 768, 256}, {false, false, 128, 256, 768}, {true, false, 768, 256, 128},
}

// calibrate times the candidate implementations (widest first) on calShapes
// in alternating rounds, each product timed on its own, and returns
// fastestOf's choice: every product's best round (the least disturbed by
// other load: an interruption spoils one product of one round, not a whole
// round), summed per candidate. About 5 ms with AVX-512 and AVX2. It affects
// speed only: every implementation gives identical bits.
func calibrate(cands []*kernelSet) (*kernelSet, string) {
	const rounds = 5 // the first warms up (workspaces, caches) and is not counted
	type operands struct{ a, b, c []float32 }
	ops := make([]operands, len(calShapes))
	for i, sh := range calShapes {
		f := func(l int) []float32 { // values in [-0.5, 0.5): no denormals, no overflow
			x := make([]float32, l)
			for j := range x {
				x[j] = float32(j%17)/17 - 0.5
			}
			return x
		}
		ops[i] = operands{f(sh.m * sh.k), f(sh.k * sh.n), f(sh.m * sh.n)}
	}
	best := make([][]time.Duration, len(cands))
	for i := range best {
		best[i] = make([]time.Duration, len(calShapes))
	}
	for r := 0; r < rounds; r++ {
		for i, ks := range cands {
			for j, sh := range calShapes {
				o := ops[j]
				lda, ldb := sh.k, sh.n
				if sh.transA {
					lda = sh.m
				}
				if sh.transB {
					ldb = sh.k
				}
				t0 := time.Now()
				ks.run(o.c, sh.n, o.a, lda, sh.transA, o.b, ldb, sh.transB, sh.m, sh.n, sh.k)
				if dt := time.Since(t0); r > 0 && (best[i][j] == 0 || dt < best[i][j]) {
					best[i][j] = dt
				}
			}
		}
	}
	total := make([]time.Duration, len(cands))
	var parts []string
	for i, ks := range cands {
		for _, d := range best[i] {
			total[i] += d
		}
		parts = append(parts, fmt.Sprintf("%s %.0f µs", ks.name, float64(total[i].Nanoseconds())/1e3))
	}
	win := fastestOf(total)
	for i, ks := range cands {
		if i != win {
			ks.drop() // the calibration's workspace
		}
	}
	return cands[win], fmt.Sprintf("calibration (%d products of the model, each its best of %d rounds, summed: %s)",
		len(calShapes), rounds-1, strings.Join(parts, ", "))
}

// fastestOf returns the index of the candidate to take given their times
// (widest first): the fastest if it is more than 5 % faster than the first,
// else the first (so that near-ties do not flip between runs or between
// machines of one kind). A candidate without a time (zero) is not taken
// unless the first has none either.
func fastestOf(times []time.Duration) int {
	f := 0
	for i, t := range times {
		if t > 0 && (times[f] == 0 || t < times[f]) {
			f = i
		}
	}
	if times[0] > 0 && float64(times[f]) >= 0.95*float64(times[0]) {
		return 0
	}
	return f
}

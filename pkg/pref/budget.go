package pref

import "runtime"

// The lane budgets: the memory the gradient buffers of a run's concurrent
// lanes may take, in one place for pkg/pref's Grad and pkg/train's SFT
// lanes. A large model runs on fewer lanes, a small one on the most (4:
// maxLanes, model.Lanes); the results do not depend on the number of lanes.
const (
	// PairLaneBudget bounds Grad's lanes, each a pair's g_w and g_l
	// (2·NumParams values): GPT-2 small, 124M parameters, 950 MiB per lane
	// in float32: 3 lanes; pythia-160m and SmolLM2-135M, 1.2 and 1.0 GiB: 2.
	// Below two lanes a 2-core machine runs one pair at a time with both
	// cores inside each product (smaller products, no two-pair pass):
	// pythia-160m's step took 8.4 s on one lane against PyTorch's 4.2.
	PairLaneBudget = 3 << 30

	// SeqLaneBudget bounds an SFT run's lanes (pkg/train), each one
	// gradient buffer and one sequence's workspace: GPT-2 small on
	// 128-token sequences, about 600 MiB a lane, runs on 3.
	SeqLaneBudget = 2 << 30
)

// maxLanes bounds the goroutines of Grad.
const maxLanes = 4

// lanesFor returns the lanes the budget allows Grad for n parameters of
// size bytes: as many as fit in PairLaneBudget, at least 1 and at most
// maxLanes.
func lanesFor(n, size int) int {
	return max(1, min(maxLanes, PairLaneBudget/max(1, 2*n*size)))
}

// GradLanes returns the lanes Grad uses on a batch of b pairs for n
// parameters of size bytes: lanesFor's, at most GOMAXPROCS and b. The
// Stepper holds a g_w and g_l for each (the first lane's are the ones it
// always holds), so memory estimates count with this function.
func GradLanes(n, size, b int) int {
	return min(runtime.GOMAXPROCS(0), max(b, 1), lanesFor(n, size))
}

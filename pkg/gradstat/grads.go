package gradstat

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"entangle/pkg/entangle"
)

// gradResult holds the reductions of one pair's sequence gradients.
type gradResult struct {
	kind           string
	pair           int64
	w, l           int // row indices in Grads
	dot, ww, ll    float64
	se             float64
	predW, predL   float64
	hasPred        bool
	matched        int // index into Pairs of the same kind and pair, or -1
	nonFiniteInput bool
}

// grads reduces the sequence gradients of grads.arrows (both sides of each
// pair, and the update row) into e.gd.
func (e *Engine) grads(d *StepData) error {
	e.gd = e.gd[:0]
	if len(d.Grads) == 0 {
		return nil
	}
	dim := -1
	update := -1
	type key struct {
		kind string
		pair int64
	}
	idx := map[key]int{}
	for i := range d.Grads {
		g := &d.Grads[i]
		if dim < 0 {
			dim = len(g.Grad)
		} else if len(g.Grad) != dim {
			return fmt.Errorf("%s pair %d %s: gradient has %d values, earlier rows %d", g.Kind, g.Pair, g.Side, len(g.Grad), dim)
		}
		if g.Token >= 0 {
			continue
		}
		if g.Side == "update" {
			update = i
			continue
		}
		k := key{g.Kind, g.Pair}
		j, ok := idx[k]
		if !ok {
			j = len(e.gd)
			idx[k] = j
			e.gd = append(e.gd, gradResult{kind: g.Kind, pair: g.Pair, w: -1, l: -1, matched: -1})
		}
		switch g.Side {
		case "chosen":
			e.gd[j].w = i
		case "rejected":
			e.gd[j].l = i
		default:
			return fmt.Errorf("%s pair %d: unknown side %q", g.Kind, g.Pair, g.Side)
		}
	}
	// Drop incomplete pairs (with a warning), match pairs.arrows rows.
	keep := e.gd[:0]
	for _, r := range e.gd {
		if r.w < 0 || r.l < 0 {
			e.warn(d.Step, loc{kind: r.kind, pair: r.pair}, "grads.arrows has only one side of the pair")
			continue
		}
		for i := range d.Pairs {
			if d.Pairs[i].Kind == r.kind && d.Pairs[i].Pair == r.pair {
				r.matched = i
				break
			}
		}
		keep = append(keep, r)
	}
	e.gd = keep
	e.reduce(d, update)
	for i := range e.gd {
		r := &e.gd[i]
		where := loc{kind: r.kind, pair: r.pair, note: " (grads)"}
		if r.nonFiniteInput {
			e.warn(d.Step, where, "gradient has NaN or Inf entries")
		}
		if r.matched >= 0 && !e.sketched() {
			p := &d.Pairs[r.matched]
			scale := math.Sqrt(math.Abs(r.ww * r.ll))
			if math.Abs(r.dot-p.Dot) > 1e-6*scale || math.Abs(r.ww-p.WW) > 1e-6*r.ww || math.Abs(r.ll-p.LL) > 1e-6*r.ll {
				e.warn(d.Step, where, "recomputed dot/norms (%g, %g, %g) differ from pairs.arrows (%g, %g, %g)", r.dot, r.ww, r.ll, p.Dot, p.WW, p.LL)
			}
		}
	}
	return nil
}

// reduce computes dot and norms (and the first-order predictions against
// the update row) of every pair in e.gd, splitting the pairs among workers.
// Each pair is reduced by one goroutine in a fixed order, so results do not
// depend on the number of workers.
func (e *Engine) reduce(d *StepData, update int) {
	workers := e.opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sk := e.sketched()
	one := func(r *gradResult) {
		gw, gl := d.Grads[r.w].Grad, d.Grads[r.l].Grad
		r.dot, r.ww, r.ll = entangle.DotNorms(gw, gl)
		r.nonFiniteInput = !finite(r.dot) || !finite(r.ww) || !finite(r.ll)
		if sk {
			r.se = entangle.SketchStdErr(gw, gl)
		}
		if update >= 0 {
			r.predW, r.predL = entangle.Predict(gw, gl, d.Grads[update].Grad)
			r.hasPred = true
		}
	}
	if workers == 1 || len(e.gd) < 2 {
		for i := range e.gd {
			one(&e.gd[i])
		}
		return
	}
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(e.gd) {
					return
				}
				one(&e.gd[i])
			}
		}()
	}
	wg.Wait()
}

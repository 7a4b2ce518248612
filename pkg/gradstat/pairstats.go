package gradstat

import (
	"fmt"
	"math"
	"strings"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// pairStats computes the statistics and the first-order check of every row
// of d.Pairs, in row order, warning about undefined values.
func (e *Engine) pairStats(d *StepData) {
	e.stats = e.stats[:0]
	e.fos = e.fos[:0]
	for i := range d.Pairs {
		p := &d.Pairs[i]
		where := loc{kind: p.Kind, pair: p.Pair}
		ps := entangle.Pair(p.Dot, p.WW, p.LL, p.CW, p.CL) // the applied coefficients (= d_w, d_l unless -normalize)
		for _, w := range ps.Warnings {
			e.warn(d.Step, where, "%v", w)
		}
		if !finite(p.LogpW) || !finite(p.LogpL) {
			e.warn(d.Step, where, "log-probability is not finite (logp_w %v, logp_l %v)", p.LogpW, p.LogpL)
		}
		e.stats = append(e.stats, ps)
		var fo FirstOrderRow
		if finite(p.PredW) && finite(p.PredL) && finite(p.LogpWAfter) && finite(p.LogpLAfter) {
			fo = FirstOrderRow{OK: true, FirstOrderCheck: entangle.FirstOrder(p.PredW, p.PredL, p.LogpWAfter-p.LogpW, p.LogpLAfter-p.LogpL)}
		} else if p.Kind == "probe" && e.run.Mode != "analyze" { // an analysis (train -mode analyze) takes no step
			e.warn(d.Step, where, "probe row without pred/logp_after: no first-order check")
		}
		e.fos = append(e.fos, fo)
		e.checkGroups(d.Step, where, p)
	}
}

// checkPairs reports inconsistent vector lengths as data errors.
func (e *Engine) checkPairs(d *StepData) error {
	G := len(e.run.Groups)
	for i := range d.Pairs {
		p := &d.Pairs[i]
		if len(p.DotG) != len(p.WWG) || len(p.DotG) != len(p.LLG) {
			return fmt.Errorf("pair %d: dot_g, ww_g, ll_g have lengths %d, %d, %d", p.Pair, len(p.DotG), len(p.WWG), len(p.LLG))
		}
		if G > 0 && len(p.DotG) != 0 && len(p.DotG) != G {
			return fmt.Errorf("pair %d: %d group values, metadata has %d groups", p.Pair, len(p.DotG), G)
		}
		if len(p.HidW) != len(p.HidL) {
			return fmt.Errorf("pair %d: hid_w has %d values, hid_l %d", p.Pair, len(p.HidW), len(p.HidL))
		}
	}
	return nil
}

// groupTol is the relative tolerance of the check that the per-group
// reductions add up to the totals: train sums the groups and the total in
// float64 from the same products, so they agree to about 1e-15 relative to
// the scale √(ww·ll); 1e-9 leaves room for other summation orders while
// catching any real inconsistency.
const groupTol = 1e-9

func (e *Engine) checkGroups(step int64, where loc, p *runfmt.PairRow) {
	if len(p.DotG) == 0 {
		return
	}
	var dot, ww, ll float64
	for g := range p.DotG {
		if g < len(e.run.Groups) && e.run.Groups[g].Of != "" {
			continue // adapter groups: another vector than the totals'
		}
		dot += p.DotG[g]
		ww += p.WWG[g]
		ll += p.LLG[g]
	}
	scale := math.Sqrt(math.Abs(p.WW * p.LL))
	bad := func(sum, total, scale float64) bool {
		return !(math.Abs(sum-total) <= groupTol*scale) && (finite(sum) || finite(total))
	}
	if bad(dot, p.Dot, scale) || bad(ww, p.WW, math.Abs(p.WW)) || bad(ll, p.LL, math.Abs(p.LL)) {
		e.warn(step, where, "groups do not sum to the totals: Σdot_g=%g dot=%g, Σww_g=%g ww=%g, Σll_g=%g ll=%g", dot, p.Dot, ww, p.WW, ll, p.LL)
	}
}

func (e *Engine) sketched() bool {
	return strings.HasPrefix(e.run.Sketch, "sketch:") || strings.HasPrefix(e.run.Sketch, "countsketch:")
}

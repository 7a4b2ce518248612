package gradstat

import (
	"fmt"
	"math"
)

// GroupColumns are the columns of the groups table: one row per run, step,
// kind and parameter group.
var GroupColumns = cols(runCols, []Column{
	{"group", String, "parameter group name (the model's tensor table)"},
	{"n", Int, "pairs summed"},
	{"dot", Float, "Σ over pairs of the group's ⟨g_w,g_l⟩"},
	{"ww", Float, "Σ over pairs of the group's ‖g_w‖²"},
	{"ll", Float, "Σ over pairs of the group's ‖g_l‖²"},
	{"dot_share", Float, "dot / Σ over pairs of the total dot (shares sum to 1 over groups)"},
	{"ww_share", Float, "ww / Σ total ww"},
	{"ll_share", Float, "ll / Σ total ll"},
	{"cos_mean", Float, "mean over pairs of the group's cosine dot_g/√(ww_g·ll_g) (zero-norm groups skipped)"},
})

// groupRows writes the groups table's rows of a step: per kind and
// parameter group, the sums over the kind's pairs and their shares.
func (e *Engine) groupRows(d *StepData) {
	kinds := kindsOf(len(d.Pairs), func(i int) string { return d.Pairs[i].Kind })
	G := len(e.run.Groups)
	for _, k := range kinds {
		if G == 0 {
			for i := range d.Pairs {
				if d.Pairs[i].Kind == k && len(d.Pairs[i].DotG) > 0 {
					G = len(d.Pairs[i].DotG)
					break
				}
			}
		}
		var tdot, tww, tll float64
		n := 0
		for i := range d.Pairs {
			p := &d.Pairs[i]
			if p.Kind != k || len(p.DotG) == 0 {
				continue
			}
			n++
			tdot += p.Dot
			tww += p.WW
			tll += p.LL
		}
		if n == 0 {
			continue
		}
		for g := 0; g < G; g++ {
			var dot, ww, ll, cs float64
			nc := 0
			for i := range d.Pairs {
				p := &d.Pairs[i]
				if p.Kind != k || len(p.DotG) == 0 {
					continue
				}
				dot += p.DotG[g]
				ww += p.WWG[g]
				ll += p.LLG[g]
				if c := p.DotG[g] / math.Sqrt(p.WWG[g]*p.LLG[g]); finite(c) {
					cs += c
					nc++
				}
			}
			name := fmt.Sprintf("group%d", g)
			if g < len(e.run.Groups) {
				name = e.run.Groups[g].Name
			}
			b := e.row(d.Step, k)
			b.Str("group", name)
			b.Int("n", int64(n))
			b.Float("dot", dot)
			b.Float("ww", ww)
			b.Float("ll", ll)
			b.Float("dot_share", dot/tdot)
			b.Float("ww_share", ww/tww)
			b.Float("ll_share", ll/tll)
			b.Float("cos_mean", cs/float64(nc))
			b.End()
		}
	}
}

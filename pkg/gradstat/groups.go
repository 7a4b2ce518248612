package gradstat

import (
	"fmt"
	"math"

	"entangle/pkg/runfmt"
)

// GroupColumns are the columns of the groups table: one row per run, step,
// kind and parameter group.
var GroupColumns = cols(runCols, []Column{
	{"group", String, "parameter group name (the model's tensor table; under train -lora then the adapters' <module>.lora_A/.lora_B)"},
	{"n", Int, "pairs summed"},
	{"dot", Float, "Σ over pairs of the group's ⟨g_w,g_l⟩"},
	{"ww", Float, "Σ over pairs of the group's ‖g_w‖²"},
	{"ll", Float, "Σ over pairs of the group's ‖g_l‖²"},
	{"dot_share", Float, "dot / Σ over pairs of the total dot (shares sum to 1 over groups); an adapter group's of the adapter total (Σ over the adapter groups)"},
	{"ww_share", Float, "ww / Σ total ww"},
	{"ll_share", Float, "ll / Σ total ll"},
	{"cos_mean", Float, "mean over pairs of the group's cosine dot_g/√(ww_g·ll_g) (zero-norm groups skipped)"},
})

// GroupSums returns, over the pairs of kind with per-group values, their
// number n and per parameter group g < G the sums of dot_g, ww_g and ll_g,
// in row order (the groups table's dot, ww, ll).
func GroupSums(pairs []runfmt.PairRow, kind string, G int) (n int, dot, ww, ll []float64) {
	dot, ww, ll = make([]float64, G), make([]float64, G), make([]float64, G)
	for i := range pairs {
		p := &pairs[i]
		if p.Kind != kind || len(p.DotG) == 0 {
			continue
		}
		n++
		for g := 0; g < G && g < len(p.DotG); g++ {
			dot[g] += p.DotG[g]
			ww[g] += p.WWG[g]
			ll[g] += p.LLG[g]
		}
	}
	return n, dot, ww, ll
}

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
		n, dot, ww, ll := GroupSums(d.Pairs, k, G)
		if n == 0 {
			continue
		}
		var tdot, tww, tll float64
		for i := range d.Pairs {
			if p := &d.Pairs[i]; p.Kind == k && len(p.DotG) > 0 {
				tdot += p.Dot
				tww += p.WW
				tll += p.LL
			}
		}
		// groups of another vector (Group.Of, the LoRA adapters): shares of
		// that vector's totals, the sums over its groups
		other := map[string]*[3]float64{}
		for g := 0; g < G && g < len(e.run.Groups); g++ {
			if of := e.run.Groups[g].Of; of != "" {
				if other[of] == nil {
					other[of] = new([3]float64)
				}
				other[of][0] += dot[g]
				other[of][1] += ww[g]
				other[of][2] += ll[g]
			}
		}
		for g := 0; g < G; g++ {
			var cs float64
			nc := 0
			for i := range d.Pairs {
				p := &d.Pairs[i]
				if p.Kind != k || len(p.DotG) == 0 {
					continue
				}
				if c := p.DotG[g] / math.Sqrt(p.WWG[g]*p.LLG[g]); finite(c) {
					cs += c
					nc++
				}
			}
			name := fmt.Sprintf("group%d", g)
			td, tw, tl := tdot, tww, tll
			if g < len(e.run.Groups) {
				name = e.run.Groups[g].Name
				if t := other[e.run.Groups[g].Of]; t != nil {
					td, tw, tl = t[0], t[1], t[2]
				}
			}
			b := e.row(d.Step, k)
			b.Str("group", name)
			b.Int("n", int64(n))
			b.Float("dot", dot[g])
			b.Float("ww", ww[g])
			b.Float("ll", ll[g])
			b.Float("dot_share", dot[g]/td)
			b.Float("ww_share", ww[g]/tw)
			b.Float("ll_share", ll[g]/tl)
			b.Float("cos_mean", cs/float64(nc))
			b.End()
		}
	}
}

package plotting

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"entangle/pkg/runfmt"
)

// DefaultBy is the -by value that groups runs by every label except seed.
const DefaultBy = "-seed"

// runGroup is the runs sharing the values of the -by label keys.
type runGroup struct {
	name string
	runs []*Run
}

// groupRuns groups runs by the values of the comma-separated label keys of
// by (DefaultBy: every label key except seed), in order of first appearance,
// and names each group by its key=value parts (runfmt.Label). A run without
// labels is a group of its own.
func groupRuns(runs []*Run, by string) []runGroup {
	var out []runGroup
	index := map[string]int{}
	for _, r := range runs {
		if !r.labelled() {
			out = append(out, runGroup{name: r.Name, runs: []*Run{r}})
			continue
		}
		var parts []string
		if by == DefaultBy {
			for _, kv := range strings.Split(r.Name, "/") {
				if !strings.HasPrefix(kv, "seed=") {
					parts = append(parts, kv)
				}
			}
		} else {
			for _, k := range strings.Split(by, ",") {
				if k = strings.TrimSpace(k); k != "" {
					v, _ := runfmt.LabelValue(r.Name, k)
					parts = append(parts, k+"="+v)
				}
			}
		}
		key := runfmt.Label(parts)
		if i, ok := index[key]; ok {
			out[i].runs = append(out[i].runs, r)
			continue
		}
		index[key] = len(out)
		name := key
		if name == "" {
			name = "all runs"
		}
		out = append(out, runGroup{name: name, runs: []*Run{r}})
	}
	for i := range out {
		if len(out[i].runs) > 1 {
			out[i].name += " (n=" + itoa(len(out[i].runs)) + ")"
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// aggregated reports whether some group holds more than one run.
func aggregated(gs []runGroup) bool {
	for _, g := range gs {
		if len(g.runs) > 1 {
			return true
		}
	}
	return false
}

// aggSeries aligns the series (xs[i], ys[i]) of several runs by x value
// (the sorted union of their x) and returns per x the mean, minimum and
// maximum over the runs with a finite value there (NaN where none). Sums run
// in run order.
func aggSeries(xs, ys [][]float64) (x, mean, lo, hi []float64) {
	seen := map[float64]bool{}
	for _, xr := range xs {
		for _, v := range xr {
			if !seen[v] {
				seen[v] = true
				x = append(x, v)
			}
		}
	}
	sort.Float64s(x)
	pos := map[float64]int{}
	for i, v := range x {
		pos[v] = i
	}
	n := make([]int, len(x))
	mean, lo, hi = make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	for r := range xs {
		for j, v := range xs[r] {
			if j >= len(ys[r]) || math.IsNaN(ys[r][j]) || math.IsInf(ys[r][j], 0) {
				continue
			}
			i, y := pos[v], ys[r][j]
			mean[i] += y
			n[i]++
			lo[i], hi[i] = math.Min(lo[i], y), math.Max(hi[i], y)
		}
	}
	for i := range x {
		if n[i] == 0 {
			mean[i], lo[i], hi[i] = math.NaN(), math.NaN(), math.NaN()
			continue
		}
		mean[i] /= float64(n[i])
	}
	return x, mean, lo, hi
}

// aggCurves averages the curves of a group's runs (mean, min–max band).
func aggCurves(cs []Curves) Curves {
	var xs, cw, cl [][]float64
	for _, c := range cs {
		if len(c.X) == 0 {
			continue
		}
		xs, cw, cl = append(xs, c.X), append(cw, c.Chosen), append(cl, c.Rejected)
	}
	var out Curves
	if len(xs) == 0 {
		return out
	}
	out.X, out.Chosen, out.ChosenLo, out.ChosenHi = aggSeries(xs, cw)
	_, out.Rejected, out.RejectedLo, out.RejectedHi = aggSeries(xs, cl)
	return out
}

// groupDynamics is the dynamics figure's data per group: the mean over the
// group's runs of the step-mean curves, with the min–max over runs shaded.
func groupDynamics(gs []runGroup, relative bool) ([]RunDynamics, error) {
	var out []RunDynamics
	for _, g := range gs {
		ds, err := DynamicsOf(g.runs, relative)
		if err != nil {
			continue
		}
		d := RunDynamics{Name: g.name, HeldOutSource: ds[0].HeldOutSource}
		var tr, ho []Curves
		for _, r := range ds {
			tr, ho = append(tr, r.Train), append(ho, r.HeldOut)
		}
		d.Train, d.HeldOut = aggCurves(tr), aggCurves(ho)
		out = append(out, d)
	}
	if len(out) == 0 {
		return DynamicsOf(nil, relative)
	}
	return out, nil
}

// groupEntangle is the entanglement figure's data per group: the mean over
// runs of the per-step median cos and ⟨g_w,g_l⟩, with the min–max of the
// runs' medians as the band.
func groupEntangle(gs []runGroup) ([]RunEntangle, error) {
	var out []RunEntangle
	for _, g := range gs {
		es, err := EntanglementOf(g.runs)
		if err != nil {
			continue
		}
		var xs, cs, ds [][]float64
		for _, e := range es {
			xs, cs, ds = append(xs, e.Cos.X), append(cs, e.Cos.Mid), append(ds, e.Dot.Mid)
		}
		var c, d Band
		c.X, c.Mid, c.Lo, c.Hi = aggSeries(xs, cs)
		d.X, d.Mid, d.Lo, d.Hi = aggSeries(xs, ds)
		c.Name, d.Name = "cos", "dot"
		out = append(out, RunEntangle{Name: g.name, Cos: c, Dot: d, Spread: "min–max over runs of the median over pairs (line: mean over runs)"})
	}
	if len(out) == 0 {
		return EntanglementOf(nil)
	}
	return out, nil
}

// groupCases is the case-fraction figure's data per group: per step the
// mean over the group's runs of each case fraction.
func groupCases(gs []runGroup) ([]RunCases, error) {
	var out []RunCases
	for _, g := range gs {
		rc, err := CasesOf(g.runs)
		if err != nil {
			continue
		}
		var xs [][]float64
		for _, r := range rc {
			xs = append(xs, r.X)
		}
		d := RunCases{Name: g.name}
		var layers [4][]float64
		for k := 0; k < 4; k++ {
			var ys [][]float64
			for _, r := range rc {
				y := make([]float64, len(r.Frac))
				for i := range y {
					y[i] = r.Frac[i][k]
				}
				ys = append(ys, y)
			}
			d.X, layers[k], _, _ = aggSeries(xs, ys)
		}
		d.Frac = make([][4]float64, len(d.X))
		for i := range d.X {
			for k := 0; k < 4; k++ {
				d.Frac[i][k] = layers[k][i]
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return CasesOf(nil)
	}
	return out, nil
}

package main

import (
	"fmt"
	"math"

	"entangle/pkg/entangle"
	"entangle/pkg/plotting"
)

// opts are the selections of the figures.
type opts struct {
	step int64  // -step: heatmap dump step, condition-plane step; −1 = default
	kind string // -kind: condition plane rows, "train", "probe" or "" (train when present)
	by   string // -by: label keys grouping runs in the series figures (defaultBy: all but seed)
	rel  bool   // -relative: dynamics curves as changes since each run's first step
}

// maxPlanePoints bounds the points of one condition-plane panel: more are
// strided (plotting.StrideIndex), which keeps every step represented.
const maxPlanePoints = 20000

// stepMeans averages f over consecutive rows of the same step among the
// rows keep accepts: X the steps, Y the means.
func stepMeans(ps []pairPoint, keep func(*pairPoint) bool, f func(*pairPoint) float64) (x, y []float64) {
	for i := 0; i < len(ps); {
		j := i
		sum, n := 0.0, 0
		for ; j < len(ps) && ps[j].step == ps[i].step; j++ {
			if keep(&ps[j]) {
				sum += f(&ps[j])
				n++
			}
		}
		if n > 0 {
			x, y = append(x, float64(ps[i].step)), append(y, sum/float64(n))
		}
		i = j
	}
	return x, y
}

func isTrain(p *pairPoint) bool  { return !p.probe }
func isProbe(p *pairPoint) bool  { return p.probe }
func logpW(p *pairPoint) float64 { return p.logpW }
func logpL(p *pairPoint) float64 { return p.logpL }

func (r *runData) has(keep func(*pairPoint) bool) bool {
	for i := range r.pairs {
		if keep(&r.pairs[i]) {
			return true
		}
	}
	return false
}

// stepCurves returns the steps rows of kind as curves of logp_chosen and
// logp_rejected (nil when none is finite).
func (r *runData) stepCurves(kind string) (plotting.Curves, bool) {
	var c plotting.Curves
	ok := false
	for _, s := range r.steps {
		if s.Kind != kind {
			continue
		}
		c.X, c.Chosen, c.Rejected = append(c.X, float64(s.Step)), append(c.Chosen, s.LogpChosen), append(c.Rejected, s.LogpRejected)
		ok = ok || !math.IsNaN(s.LogpChosen)
	}
	return c, ok
}

// dynamicsData builds figure 1: training curves from the pairs rows' means
// (else the steps stream's train rows), held-out curves from the steps
// stream's eval rows (else the probe rows' means).
//
// With relative, every curve becomes its change since its own first finite
// value (per run and per kind, before any averaging over a group).
func dynamicsData(runs []*runData, relative bool) ([]plotting.RunDynamics, error) {
	var out []plotting.RunDynamics
	for _, r := range runs {
		d := plotting.RunDynamics{Name: r.name}
		if r.has(isTrain) {
			d.Train.X, d.Train.Chosen = stepMeans(r.pairs, isTrain, logpW)
			_, d.Train.Rejected = stepMeans(r.pairs, isTrain, logpL)
		} else if c, ok := r.stepCurves("train"); ok {
			d.Train = c
		}
		if c, ok := r.stepCurves("eval"); ok {
			d.HeldOut, d.HeldOutSource = c, "eval rows"
		} else if r.has(isProbe) {
			d.HeldOut.X, d.HeldOut.Chosen = stepMeans(r.pairs, isProbe, logpW)
			_, d.HeldOut.Rejected = stepMeans(r.pairs, isProbe, logpL)
			d.HeldOutSource = "probe pairs"
		}
		if relative {
			for _, c := range []*plotting.Curves{&d.Train, &d.HeldOut} {
				sinceFirst(c.Chosen)
				sinceFirst(c.Rejected)
			}
		}
		if len(d.Train.X) > 0 || len(d.HeldOut.X) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dynamics needs logp_chosen/logp_rejected (steps.arrows) or logp_w/logp_l (pairs.arrows) of a preference run (train -mode pref -out DIR writes them)")
	}
	return out, nil
}

// entangleData builds figure 2 from the training pair rows (probe rows when
// a run has none): per step the q25/median/q75 of cos and of ⟨g_w,g_l⟩.
func entangleData(runs []*runData) ([]plotting.RunEntangle, error) {
	var out []plotting.RunEntangle
	for _, r := range runs {
		keep := isTrain
		if !r.has(keep) {
			keep = isProbe
		}
		var x []float64
		var cosS, dotS [][]float64
		for i := 0; i < len(r.pairs); {
			j := i
			var cs, ds []float64
			for ; j < len(r.pairs) && r.pairs[j].step == r.pairs[i].step; j++ {
				if p := &r.pairs[j]; keep(p) {
					cs, ds = append(cs, p.cos), append(ds, p.dot)
				}
			}
			if len(cs) > 0 {
				x, cosS, dotS = append(x, float64(r.pairs[i].step)), append(cosS, cs), append(dotS, ds)
			}
			i = j
		}
		if len(x) > 0 {
			out = append(out, plotting.RunEntangle{Name: r.name, Cos: plotting.QuantileBand("cos", x, cosS), Dot: plotting.QuantileBand("dot", x, dotS)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("entanglement needs dot, ww, ll (pairs.arrows of a preference run; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// pairCase is the case of a pair row: observed (signs of log π after −
// before) for probe rows, predicted (first order, the coefficients applied:
// gradstat's loss_case) for training rows.
func pairCase(p *pairPoint) entangle.Case {
	if p.probe && !math.IsNaN(p.afterW) && !math.IsNaN(p.afterL) {
		return entangle.CaseOf(p.afterW-p.logpW, p.afterL-p.logpL)
	}
	return entangle.Case(p.lossCase)
}

// planeData builds figure 3: the rows of o.kind (default: training rows when
// the run has them, else probe rows) of step o.step (default: all steps).
func planeData(runs []*runData, o opts) ([]plotting.PlaneData, error) {
	var out []plotting.PlaneData
	for _, r := range runs {
		probe := o.kind == "probe" || (o.kind == "" && !r.has(isTrain))
		var sel []int
		for i := range r.pairs {
			p := &r.pairs[i]
			if p.probe == probe && (o.step < 0 || p.step == o.step) {
				sel = append(sel, i)
			}
		}
		if len(sel) == 0 {
			continue
		}
		d := plotting.PlaneData{Name: r.name, CaseSource: "predicted"}
		if probe {
			d.CaseSource = "observed"
		}
		for _, k := range plotting.StrideIndex(len(sel), maxPlanePoints) {
			p := &r.pairs[sel[k]]
			d.X, d.Y, d.Case = append(d.X, p.chosenRatio), append(d.Y, p.rejectedRatio), append(d.Case, pairCase(p))
		}
		if o.step >= 0 {
			d.Name += fmt.Sprintf(", step %d", o.step)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		what := "pair rows"
		if o.kind != "" {
			what = o.kind + " rows"
		}
		if o.step >= 0 {
			what += " at step " + fmt.Sprint(o.step)
		}
		return nil, fmt.Errorf("condition plane: no %s with dot, ww, ll in pairs.arrows (train -mode pref -out DIR writes them; probe rows need -probe N -dump-every K)", what)
	}
	return out, nil
}

// casesData builds figure 4: per step, the fractions of training pairs in
// each predicted case.
func casesData(runs []*runData) ([]plotting.RunCases, error) {
	var out []plotting.RunCases
	for _, r := range runs {
		d := plotting.RunCases{Name: r.name}
		for i := 0; i < len(r.pairs); {
			j := i
			var cs []entangle.Case
			for ; j < len(r.pairs) && r.pairs[j].step == r.pairs[i].step; j++ {
				if p := &r.pairs[j]; !p.probe {
					cs = append(cs, entangle.Case(p.lossCase))
				}
			}
			if len(cs) > 0 {
				d.X, d.Frac = append(d.X, float64(r.pairs[i].step)), append(d.Frac, plotting.CaseFractions(cs))
			}
			i = j
		}
		if len(d.X) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cases needs training rows with dot, ww, ll, cw, cl (pairs.arrows; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// maxGroupLines is the most parameter-group lines per panel before groups
// are aggregated (plotting.GroupBuckets).
const maxGroupLines = 10

// groupsData builds figure 5 from the per-step group sums of the training
// rows.
func groupsData(runs []*runData) ([]plotting.RunGroups, error) {
	var out []plotting.RunGroups
	for _, r := range runs {
		if len(r.groupX) == 0 {
			continue
		}
		labels, of := plotting.GroupBuckets(r.groupNames, maxGroupLines)
		d := plotting.RunGroups{Name: r.name, X: r.groupX, Labels: labels}
		d.Dot, d.WW, d.LL = make([][]float64, len(labels)), make([][]float64, len(labels)), make([][]float64, len(labels))
		for k := range r.groupX {
			for _, q := range []struct {
				dst *[][]float64
				v   []float64
			}{{&d.Dot, r.groupDot[k]}, {&d.WW, r.groupWW[k]}, {&d.LL, r.groupLL[k]}} {
				sh := plotting.Shares(q.v, of, len(labels))
				for b := range sh {
					(*q.dst)[b] = append((*q.dst)[b], sh[b])
				}
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("groups needs dot_g, ww_g, ll_g of training rows (pairs.arrows; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// heatmapData builds figure 6: for each run with per-token gradients, the
// matrices of dump step o.step, or of the first and the last dump step.
func heatmapData(runs []*runData, o opts) ([]plotting.TokenMap, error) {
	var out []plotting.TokenMap
	for _, r := range runs {
		var sel []tokenMat
		for _, t := range r.tokens {
			if o.step < 0 || t.step == o.step {
				sel = append(sel, t)
			}
		}
		if o.step < 0 && len(sel) > 2 {
			sel = []tokenMat{sel[0], sel[len(sel)-1]}
		}
		for _, t := range sel {
			out = append(out, plotting.TokenMap{
				Title:  fmt.Sprintf("%s: step %d, pair %d", r.name, t.step, t.Pair),
				Chosen: t.Chosen, Rejected: t.Rejected, ChosenContrast: t.CW, RejectedContrast: t.CL, Cos: t.Cos,
			})
		}
	}
	if len(out) == 0 {
		what := ""
		if o.step >= 0 {
			what = fmt.Sprintf(" at step %d", o.step)
		}
		return nil, fmt.Errorf("heatmap needs per-token gradient rows%s in grads.arrows (train -grads full -token-grads N -probe N -dump-every K writes them)", what)
	}
	return out, nil
}

// firstOrderData builds figure 7 from the probe rows.
func firstOrderData(runs []*runData) ([]plotting.RunFirstOrder, error) {
	var out []plotting.RunFirstOrder
	for _, r := range runs {
		d := plotting.RunFirstOrder{Name: r.name}
		for i := range r.pairs {
			p := &r.pairs[i]
			if !p.probe || math.IsNaN(p.predW) || math.IsNaN(p.afterW) {
				continue
			}
			d.PredW, d.ObsW = append(d.PredW, p.predW), append(d.ObsW, p.afterW-p.logpW)
			d.PredL, d.ObsL = append(d.PredL, p.predL), append(d.ObsL, p.afterL-p.logpL)
		}
		if len(d.PredW) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("firstorder needs probe rows with pred_w, pred_l, logp_w_after, logp_l_after (pairs.arrows of train -probe N -dump-every K)")
	}
	return out, nil
}

// sinceFirst subtracts from every value of y its first finite value (NaN
// values stay NaN).
func sinceFirst(y []float64) {
	for _, v := range y {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			for i := range y {
				y[i] -= v
			}
			return
		}
	}
}

package gradstat

import (
	"testing"

	"entangle/pkg/runfmt"
)

// TestAttribTable: a hand-worked step with B = 2 training pairs (ids 1 and
// 7) and probes 7 (also in the batch: own) and 9 (held out, no pairs row).
//
//	pair 1: cw 0.5, cl 0.25; probe 7: ww 4, wl 2, lw 1, ll 3
//	  contrib_w = (0.5·4 − 0.25·2)/2 = 0.75,  contrib_l = (0.5·1 − 0.25·3)/2 = −0.125
//	pair 7: cw 1, cl 2; probe 7: ww 1, wl 0.5, lw −1, ll 0.25
//	  contrib_w = (1·1 − 2·0.5)/2 = 0,        contrib_l = (1·(−1) − 2·0.25)/2 = −0.75
//	probe 7: sum_w = 0.75, sum_l = −0.875; with lr 0.1 and SGD, pred = lr·sum
//	probe 9 (all dots 1): contrib_w = (0.5 − 0.25)/2 = 0.125 and (1 − 2)/2 = −0.5, sum −0.375
func TestAttribTable(t *testing.T) {
	e, sink, warns := engine(TableAttrib, &Run{Label: "r"})
	a := func(probe, pair int64, ww, wl, lw, ll, cw, cl float64) runfmt.AttribRow {
		return runfmt.AttribRow{Step: 3, Probe: probe, Pair: pair, WW: ww, WL: wl, LW: lw, LL: ll, CW: cw, CL: cl, Batch: 2}
	}
	probe := trainPair(3, 7, 0, 1, 1, 1, 1)
	probe.Kind, probe.PredW, probe.PredL, probe.LogpWAfter, probe.LogpLAfter = "probe", 0.075, -0.0875, -9.9, -12.1
	step := runfmt.NullStepRow(3, "train")
	step.LR = 0.1
	d := &StepData{Step: 3, Steps: []runfmt.StepRow{step},
		Pairs: []runfmt.PairRow{trainPair(3, 1, 0, 1, 1, 0.5, 0.25), trainPair(3, 7, 0, 1, 1, 1, 2), probe},
		Attrib: []runfmt.AttribRow{
			a(7, 1, 4, 2, 1, 3, 0.5, 0.25), a(7, 7, 1, 0.5, -1, 0.25, 1, 2),
			a(9, 1, 1, 1, 1, 1, 0.5, 0.25), a(9, 7, 1, 1, 1, 1, 1, 2),
		}}
	if err := e.Step(d); err != nil {
		t.Fatal(err)
	}
	if len(sink.rows) != 4 {
		t.Fatalf("%d rows, want 4 (warnings %v)", len(sink.rows), *warns)
	}
	want := []struct {
		probe, pair      int64
		own              bool
		cw, cl, sumW, sl float64
	}{
		{7, 1, false, 0.75, -0.125, 0.75, -0.875},
		{7, 7, true, 0, -0.75, 0.75, -0.875},
		{9, 1, false, 0.125, 0.125, -0.375, -0.375},
		{9, 7, false, -0.5, -0.5, -0.375, -0.375},
	}
	for i, w := range want {
		r := sink.rows[i]
		if r["probe"] != w.probe || r["pair"] != w.pair || r["own"] != w.own || r["batch"] != int64(2) || r["kind"] != "probe" || r["step"] != int64(3) {
			t.Errorf("row %d: %v; want probe %d pair %d own %v", i, r, w.probe, w.pair, w.own)
		}
		wantF(t, r, "contrib_w", w.cw)
		wantF(t, r, "contrib_l", w.cl)
		wantF(t, r, "sum_w", w.sumW)
		wantF(t, r, "sum_l", w.sl)
		wantF(t, r, "lr", 0.1)
		if w.probe == 7 {
			// the SGD check: lr·sum equals the probe's pred
			wantF(t, r, "pred_w", 0.1*w.sumW)
			wantF(t, r, "pred_l", 0.1*w.sl)
		} else if _, ok := r["pred_w"]; ok {
			t.Errorf("row %d: pred_w %v for a probe without a pairs row, want null", i, r["pred_w"])
		}
	}
}

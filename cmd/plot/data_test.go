package main

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/entangle"
	"entangle/pkg/plotting"
	"entangle/pkg/runfmt"
)

// loadDirs loads the given inputs as plot would.
func loadDirs(t *testing.T, pair int64, inputs ...string) []*plotting.Run {
	t.Helper()
	var stderr bytes.Buffer
	runs, err := loadRuns(context.Background(), &cli.Env{Name: "plot", Stderr: &stderr}, inputs, pair)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestLoadRunDirAndName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	runs := loadDirs(t, -1, dir)
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	r := runs[0]
	if r.Name != dir || r.Source != dir {
		t.Errorf("name %q, source %q: want the run label, the directory as given", r.Name, r.Source)
	}
	// 4 steps × 2 training rows + 2 probe rows.
	// 4 steps, probe rows at steps 0 and 2: 8 training and 2 probe pair rows.
	if k := r.Stats.Kinds; r.Stats.Steps != 4 || k["train"].N != 8 || k["probe"].N != 2 {
		t.Errorf("%d steps, %d train and %d probe pair rows; want 4, 8, 2", r.Stats.Steps, k["train"].N, k["probe"].N)
	}
}

func TestDynamicsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	d, err := plotting.DynamicsOf(loadDirs(t, -1, dir), false)
	if err != nil {
		t.Fatal(err)
	}
	// Train: the mean of the two pairs per step: chosen −10 + s, rejected
	// ((−10 − s) + (−11 − s))/2 = −10.5 − s.
	tr := d[0].Train
	for s := 0; s < fixtureSteps; s++ {
		if tr.X[s] != float64(s) || tr.Chosen[s] != -10+float64(s) || tr.Rejected[s] != -10.5-float64(s) {
			t.Errorf("train step %d: %v %v %v", s, tr.X[s], tr.Chosen[s], tr.Rejected[s])
		}
	}
	// Held-out: the eval rows, not the probes.
	ho := d[0].HeldOut
	if d[0].HeldOutSource != "eval rows" || !slices.Equal(ho.X, []float64{0, 3}) || !slices.Equal(ho.Chosen, []float64{-8, -7}) {
		t.Errorf("held-out %+v from %q", ho, d[0].HeldOutSource)
	}
	// Without steps.arrows: held-out from the probe rows (steps 0 and 2).
	dir2 := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir2, fixtureOptions{noSteps: true})
	d, _ = plotting.DynamicsOf(loadDirs(t, -1, dir2), false)
	if d[0].HeldOutSource != "probe pairs" || !slices.Equal(d[0].HeldOut.X, []float64{0, 2}) || !slices.Equal(d[0].HeldOut.Rejected, []float64{-6, -6}) {
		t.Errorf("probe held-out %+v from %q", d[0].HeldOut, d[0].HeldOutSource)
	}
	// -relative: each curve minus its first value: train chosen s, rejected
	// −s; held-out chosen (−8, −7) → (0, 1).
	d, err = plotting.DynamicsOf(loadDirs(t, -1, dir), true)
	if err != nil {
		t.Fatal(err)
	}
	tr = d[0].Train
	for s := 0; s < fixtureSteps; s++ {
		if tr.Chosen[s] != float64(s) || tr.Rejected[s] != -float64(s) {
			t.Errorf("relative train step %d: %v %v", s, tr.Chosen[s], tr.Rejected[s])
		}
	}
	if !slices.Equal(d[0].HeldOut.Chosen, []float64{0, 1}) {
		t.Errorf("relative held-out chosen %v, want [0 1]", d[0].HeldOut.Chosen)
	}
}

func TestEntangleData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	d, err := plotting.EntanglementOf(loadDirs(t, -1, dir))
	if err != nil {
		t.Fatal(err)
	}
	// Two pairs per step with cos 1/√8 and 1/√2: type-7 quantiles of two
	// values a < b: q25 = a + (b−a)/4, median = (a+b)/2, q75 = a + 3(b−a)/4.
	a, b := 1/math.Sqrt(8), 1/math.Sqrt(2)
	c := d[0].Cos
	if len(c.X) != fixtureSteps {
		t.Fatalf("%d steps", len(c.X))
	}
	for i := range c.X {
		if !near(c.Lo[i], a+(b-a)/4) || !near(c.Mid[i], (a+b)/2) || !near(c.Hi[i], a+3*(b-a)/4) || c.N[i] != 2 {
			t.Errorf("cos band step %v: %v %v %v", c.X[i], c.Lo[i], c.Mid[i], c.Hi[i])
		}
	}
	if d[0].Dot.Mid[0] != 2 { // median of dots 1 and 3
		t.Errorf("dot median %v, want 2", d[0].Dot.Mid[0])
	}
}

func TestPlaneData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	runs := loadDirs(t, -1, dir)
	d, err := plotting.PlaneOf(runs, plotting.Select{Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Step 1's training pairs: (1/4, 1/2) case 1 and (3/2, 1/3) case 2.
	p := d[0]
	if p.CaseSource != "predicted" || len(p.X) != 2 || p.X[0] != 0.25 || p.Y[0] != 0.5 || p.X[1] != 1.5 || !near(p.Y[1], 1.0/3) {
		t.Fatalf("plane %+v", p)
	}
	if !slices.Equal(p.Case, []entangle.Case{1, 2}) {
		t.Errorf("cases %v, want [1 2]", p.Case)
	}
	// Probe rows: at (2, 1/2), i.e. predicted region 2, but coloured by the
	// observed case: Δlog π_w = +0.1, Δlog π_l = −0.2 → case 1.
	d, err = plotting.PlaneOf(runs, plotting.Select{Step: -1, Kind: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if p := d[0]; p.CaseSource != "observed" || len(p.X) != 2 || p.X[0] != 2 || p.Y[0] != 0.5 || p.Case[0] != 1 {
		t.Errorf("probe plane %+v", p)
	}
	if _, err := plotting.PlaneOf(runs, plotting.Select{Step: 99}); err == nil {
		t.Error("a step without rows gave no error")
	}
}

func TestCasesAndGroupsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	runs := loadDirs(t, -1, dir)
	c, err := plotting.CasesOf(runs)
	if err != nil {
		t.Fatal(err)
	}
	// Probes are left out: every step has one case-1 and one case-2 pair.
	for i, f := range c[0].Frac {
		if f != [4]float64{0.5, 0.5, 0, 0} {
			t.Errorf("step %v: %v", c[0].X[i], f)
		}
	}
	g, err := plotting.GroupsOf(runs)
	if err != nil {
		t.Fatal(err)
	}
	// Three groups, few enough to keep: shares of Σdot = 4 per step split
	// (1/2, 1/4, 1/4); of Σww (1/2, 1/2, 0); of Σll (0, 0, 1).
	gr := g[0]
	if !slices.Equal(gr.Labels, []string{"wte", "h.0.attn.qkv.w", "lnf.w"}) || len(gr.X) != fixtureSteps {
		t.Fatalf("labels %v, %d steps", gr.Labels, len(gr.X))
	}
	for b, want := range [][3]float64{{0.5, 0.5, 0}, {0.25, 0.5, 0}, {0.25, 0, 1}} {
		if gr.Dot[b][0] != want[0] || gr.WW[b][0] != want[1] || gr.LL[b][0] != want[2] {
			t.Errorf("group %d: %v %v %v, want %v", b, gr.Dot[b][0], gr.WW[b][0], gr.LL[b][0], want)
		}
	}
}

func TestHeatmapData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	d, err := plotting.HeatmapsOf(loadDirs(t, -1, dir), plotting.Select{Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 {
		t.Fatalf("%d maps, want the first and last dump steps", len(d))
	}
	want := [][]float64{{-1, 0, 0, 1}, {-1, 0, 0, 1 / math.Sqrt2}}
	for k, m := range d {
		if !slices.Equal(m.Chosen, []string{"good", "day"}) || !slices.Equal(m.Rejected, []string{"bad", "day"}) {
			t.Errorf("tokens %q × %q", m.Chosen, m.Rejected)
		}
		if !slices.Equal(m.ChosenContrast, []bool{true, false}) || !slices.Equal(m.RejectedContrast, []bool{true, false}) {
			t.Errorf("contrastive %v %v", m.ChosenContrast, m.RejectedContrast)
		}
		for i := range want[k] {
			if !near(m.Cos[i], want[k][i]) {
				t.Errorf("map %d: cos %v, want %v", k, m.Cos, want[k])
				break
			}
		}
	}
	if d, _ := plotting.HeatmapsOf(loadDirs(t, -1, dir), plotting.Select{Step: 2}); len(d) != 1 || !near(d[0].Cos[3], 1/math.Sqrt2) {
		t.Errorf("-step 2: %+v", d)
	}
	if _, err := plotting.HeatmapsOf(loadDirs(t, 5, dir), plotting.Select{Step: -1}); err == nil {
		t.Error("-pair 5 (no token rows) gave no error")
	}
}

func TestFirstOrderAndHeadlines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRun(t, dir, fixtureOptions{})
	runs := loadDirs(t, -1, dir)
	d, err := plotting.FirstOrderOf(runs)
	if err != nil {
		t.Fatal(err)
	}
	f := d[0]
	if len(f.PredW) != 2 || f.PredW[0] != 0.11 || !near(f.ObsW[0], 0.1) || f.PredL[0] != -0.19 || !near(f.ObsL[0], -0.2) {
		t.Errorf("first order %+v", f)
	}
	// The headline figures are gradstat's (TestHeadlineSameEverywhere).
	if runs[0].Stats == nil || runs[0].Stats.Kinds["probe"].Steps != 2 {
		t.Errorf("run stats %+v", runs[0].Stats)
	}
}

func TestSweepLabelsAndNames(t *testing.T) {
	root := t.TempDir()
	writeRun(t, filepath.Join(root, "task=1t", "seed=1"), fixtureOptions{})
	writeRun(t, filepath.Join(root, "task=long-suffix", "seed=1"), fixtureOptions{meta: func(m *runfmt.Meta) { m.RunID = "feedbeef00" }})
	writeRun(t, filepath.Join(root, "notes", "x"), fixtureOptions{noPairs: true, noGrads: true, meta: func(m *runfmt.Meta) { m.RunID = "77" }})
	runs := loadDirs(t, -1, root)
	var names []string
	for _, r := range runs {
		names = append(names, r.Name)
	}
	// Sorted by path, named by their labels (runfmt.Resolve): the run
	// without key=value parts by its path below the sweep.
	want := []string{"notes/x", "task=1t/seed=1", "task=long-suffix/seed=1"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
}

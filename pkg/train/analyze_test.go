package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// writeSeries writes checkpoint-N/model.safetensors for each step: tiny
// models of different seeds (standing in for a run's checkpoints).
func writeSeries(t *testing.T, dir string, d *prefdata.Dataset, steps ...int) []string {
	t.Helper()
	cfg := model.Config{V: d.Vocab.Size(), T: 32, C: 16, L: 2, H: 2, Tied: true}
	var paths []string
	for i, s := range steps {
		m := model.New[float32](cfg)
		m.Init(uint64(10 + i))
		p := filepath.Join(dir, "checkpoint-"+itoa(s), runfmt.ModelFile)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := WriteModel(p, &Checkpoint{Model: cfg, Params: m.Params, Step: 999}); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func itoa(n int) string { return strconv.Itoa(n) }

func analyzeCfg(t *testing.T, init, ref string, d *prefdata.Dataset, shard, shards int, grads string) AnalyzeConfig {
	t.Helper()
	step, ok, err := CheckpointStep(init)
	if err != nil || !ok {
		t.Fatalf("CheckpointStep(%s) = %d, %v, %v", init, step, ok, err)
	}
	c := AnalyzeConfig{Mode: ModeAnalyze, Init: init, Step: step, Split: prefdata.SplitTest, Pairs: 12, Shard: shard, Shards: shards,
		Data: Fingerprint(d), Pref: PrefConfig{Ref: ref, Loss: "dpo", Grads: grads, SketchSeed: 3}}
	c.Pref.Params.Beta = 0.1
	if err := PrepareAnalyze(&c, d); err != nil {
		t.Fatal(err)
	}
	return c
}

func readPairBatches(t *testing.T, path string) (runfmt.Meta, [][]runfmt.PairRow) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := runfmt.NewPairReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]runfmt.PairRow
	for r.Next() {
		var b []runfmt.PairRow
		for _, x := range r.Rows() {
			x.DotG, x.WWG, x.LLG, x.HidW, x.HidL = append([]float64(nil), x.DotG...), append([]float64(nil), x.WWG...),
				append([]float64(nil), x.LLG...), append([]float32(nil), x.HidW...), append([]float32(nil), x.HidL...)
			b = append(b, x)
		}
		out = append(out, b)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return r.Meta(), out
}

// TestAnalyzeSeries: a series of two checkpoints analysed in two shards each
// and merged gives, per checkpoint step (ascending, whatever the order of the
// arguments), exactly the rows of an unsharded analysis in the split's order
// (so sharding changes nothing; NaN after-columns printed alike), the same
// steps.arrows eval row, and one run_id; the rows are those of the pref step at that checkpoint
// (pkg/pref's Evaluate = ProbeBefore) with the reference's log-probs.
// Incomplete series are refused.
func TestAnalyzeSeries(t *testing.T) {
	d := data1t(t, 16)
	dir := t.TempDir()
	cks := writeSeries(t, dir, d, 80, 40)
	ref := cks[1]
	var parts []string
	for _, ck := range cks {
		for sh := range 2 {
			out := filepath.Join(dir, "part-"+filepath.Base(filepath.Dir(ck))+"-"+itoa(sh))
			if err := Analyze(context.Background(), analyzeCfg(t, ck, ref, d, sh, 2, "countsketch:32"), d, Options{Dir: out, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, out)
		}
	}
	merged := filepath.Join(dir, "series")
	if err := MergeAnalyses(merged, parts); err != nil {
		t.Fatal(err)
	}
	meta, batches := readPairBatches(t, filepath.Join(merged, runfmt.PairsFile))
	if len(batches) != 2 || batches[0][0].Step != 40 || batches[1][0].Step != 80 {
		t.Fatalf("merged batches: %d, steps %d, %d", len(batches), batches[0][0].Step, batches[1][0].Step)
	}
	steps := readSteps(t, merged)
	for i, ck := range []string{cks[1], cks[0]} {
		whole := filepath.Join(dir, "whole-"+itoa(i))
		if err := Analyze(context.Background(), analyzeCfg(t, ck, ref, d, 0, 1, "countsketch:32"), d, Options{Dir: whole, Quiet: true}); err != nil {
			t.Fatal(err)
		}
		wm, want := readPairBatches(t, filepath.Join(whole, runfmt.PairsFile))
		if wm.RunID != meta.RunID {
			t.Errorf("run_id %s (unsharded) vs %s (merged)", wm.RunID, meta.RunID)
		}
		if len(want[0]) != 12 || fmt.Sprint(want[0]) != fmt.Sprint(batches[i]) {
			t.Errorf("step %d: merged rows differ from the unsharded analysis (%d vs %d rows)", batches[i][0].Step, len(batches[i]), len(want[0]))
		}
		ws := readSteps(t, whole)
		if len(ws) != 1 || fmt.Sprint(ws[0]) != fmt.Sprint(steps[i]) {
			t.Errorf("step %d: eval row %+v, want %+v", batches[i][0].Step, steps[i], ws)
		}
		// The reference's own analysis has logp = ref: zero rewards.
		if ck == ref {
			for _, r := range want[0] {
				if r.LogpW != r.RefW || r.LogpL != r.RefL || math.Abs(r.Loss-math.Ln2) > 1e-12 || r.DW != 0.05 {
					t.Errorf("reference checkpoint, pair %d: logp %v/%v ref %v/%v loss %v d_w %v", r.Pair, r.LogpW, r.LogpL, r.RefW, r.RefL, r.Loss, r.DW)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(merged, runfmt.GradsFile)); err != nil {
		t.Error(err)
	}
	// Another β: another series.
	other := analyzeCfg(t, cks[0], ref, d, 0, 2, "countsketch:32")
	other.Pref.Params.Beta = 0.2
	if err := Analyze(context.Background(), other, d, Options{Dir: filepath.Join(dir, "beta"), Quiet: true}); err != nil {
		t.Fatal(err)
	}
	// A missing shard, a part given twice, another series or shard count, an existing output.
	for _, tc := range []struct {
		parts []string
		out   string
		want  string
	}{
		{parts[:3], filepath.Join(dir, "m1"), "step 40: 1 of 2 shards"},
		{[]string{parts[0], parts[0], parts[1]}, filepath.Join(dir, "m2"), "shard 1/2 is missing or given twice"},
		{[]string{parts[0], filepath.Join(dir, "whole-0")}, filepath.Join(dir, "m3"), "1 shards"},
		{[]string{parts[0], filepath.Join(dir, "beta")}, filepath.Join(dir, "m5"), "another series"},
		{parts, merged, "not empty"},
		{[]string{merged}, filepath.Join(dir, "m4"), "already a merged run"},
	} {
		if err := MergeAnalyses(tc.out, tc.parts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("merge %v: err %v, want %q", tc.parts, err, tc.want)
		}
	}
}

// TestCheckpointStep: the step comes from a checkpoint-N folder (the path
// or a file's directory), trainer_state.json's global_step, or an entangle
// checkpoint's metadata; a model directory without any says so.
func TestCheckpointStep(t *testing.T) {
	dir := t.TempDir()
	d := data1t(t, 16)
	ck := writeSeries(t, dir, d, 120)[0]
	hf := filepath.Join(dir, "checkpoint-40")
	writeHFDir(t, hf, 64, "F32")
	plain := filepath.Join(dir, "final")
	writeHFDir(t, plain, 64, "F32")
	flat := filepath.Join(dir, "model.safetensors")
	os.Rename(ck, flat)
	for _, tc := range []struct {
		path string
		step int64
		ok   bool
	}{{hf, 40, true}, {plain, 0, false}, {flat, 999, true}} {
		s, ok, err := CheckpointStep(tc.path)
		if err != nil || s != tc.step || ok != tc.ok {
			t.Errorf("%s: %d, %v, %v; want %d, %v", tc.path, s, ok, err, tc.step, tc.ok)
		}
	}
	os.WriteFile(filepath.Join(plain, "trainer_state.json"), []byte(`{"global_step": 64, "epoch": 1.0}`), 0o644)
	if s, ok, err := CheckpointStep(plain); s != 64 || !ok || err != nil {
		t.Errorf("trainer_state.json: %d, %v, %v", s, ok, err)
	}
	os.WriteFile(filepath.Join(plain, "trainer_state.json"), []byte(`{"global_step": "x"}`), 0o644)
	if _, _, err := CheckpointStep(plain); err == nil || !strings.Contains(err.Error(), "trainer_state.json") {
		t.Errorf("bad trainer_state.json: %v", err)
	}
}

// TestSaveEvery: -save-every 2 keeps checkpoint-2 and checkpoint-4 in a
// 4-step SFT run and a 4-step pref run; the last equals the final weights,
// and the step comes back from the folder name.
func TestSaveEvery(t *testing.T) {
	d := data1t(t, 16)
	dir := t.TempDir()
	c := testConfig(t, d, 4)
	c.SaveEvery = 2
	sft := filepath.Join(dir, "sft")
	if err := Run(context.Background(), c, d, Options{Dir: sft}); err != nil {
		t.Fatal(err)
	}
	p := DefaultConfig()
	p.Mode, p.Init, p.Steps, p.Epochs, p.Batch, p.SaveEvery = ModePref, filepath.Join(sft, runfmt.ModelFile), 4, 0, 4, 2
	p.Pref = &PrefConfig{Loss: "dpo"}
	p.Pref.Params.Beta = 0.1
	if err := Prepare(&p, d); err != nil {
		t.Fatal(err)
	}
	pref := filepath.Join(dir, "pref")
	if err := Run(context.Background(), p, d, Options{Dir: pref}); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{sft, pref} {
		final, err := ReadCheckpoint(filepath.Join(run, runfmt.ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 4} {
			path := filepath.Join(run, SeriesDir(n), runfmt.ModelFile)
			ck, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			if s, ok, err := CheckpointStep(path); s != int64(n) || !ok || err != nil || ck.Step != n {
				t.Errorf("%s: step %d (%v, %v), recorded %d", path, s, ok, err, ck.Step)
			}
			if n == 4 && fmt.Sprint(ck.Params) != fmt.Sprint(final.Params) {
				t.Errorf("%s differs from the final weights", path)
			}
		}
		if _, err := os.Stat(filepath.Join(run, SeriesDir(1))); err == nil {
			t.Errorf("%s: checkpoint-1 kept", run)
		}
	}
	// A new run in the directory (-force) removes the kept weights, not other files.
	os.WriteFile(filepath.Join(sft, SeriesDir(2), "notes.txt"), []byte("mine"), 0o644)
	c.SaveEvery = 0
	if err := Run(context.Background(), c, d, Options{Dir: sft}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sft, SeriesDir(4))); !os.IsNotExist(err) {
		t.Errorf("checkpoint-4 of the previous run left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sft, SeriesDir(2), runfmt.ModelFile)); !os.IsNotExist(err) {
		t.Errorf("checkpoint-2's weights left: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(sft, SeriesDir(2), "notes.txt")); string(b) != "mine" {
		t.Errorf("the user's file: %q, %v", b, err)
	}
}

// TestPrefCountSketch: -mode pref with -grads countsketch:K dumps vectors of
// K values, equal to the count sketch of the full dump of the same run, and
// records the kind, seed and scheme in grads.arrows' metadata.
func TestPrefCountSketch(t *testing.T) {
	d := data1t(t, 16)
	dir := t.TempDir()
	sft := filepath.Join(dir, "sft")
	if err := Run(context.Background(), testConfig(t, d, 2), d, Options{Dir: sft}); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]runfmt.GradRow{}
	var meta runfmt.Meta
	for _, g := range []string{"full", "countsketch:64"} {
		p := DefaultConfig()
		p.Mode, p.Init, p.Steps, p.Epochs, p.Batch = ModePref, filepath.Join(sft, runfmt.ModelFile), 2, 0, 4
		p.Pref = &PrefConfig{Loss: "dpo", Grads: g, SketchSeed: 5, Probe: 2, DumpEvery: 2}
		p.Pref.Params.Beta = 0.1
		if err := Prepare(&p, d); err != nil {
			t.Fatal(err)
		}
		run := filepath.Join(dir, strings.ReplaceAll(g, ":", "-"))
		if err := Run(context.Background(), p, d, Options{Dir: run}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(run, runfmt.GradsFile)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := runfmt.NewGradReader(f, path)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			for _, x := range r.Rows() {
				x.Grad = append([]float32(nil), x.Grad...)
				grads[g] = append(grads[g], x)
			}
		}
		meta = r.Meta()
		f.Close()
	}
	if meta.Sketch != "countsketch:64" || meta.SketchSeed != 5 || meta.Dim != 64 || meta.Raw["sketch_scheme"] != "countsketch-splitmix64-v1" {
		t.Errorf("metadata: sketch %q seed %d dim %d scheme %q", meta.Sketch, meta.SketchSeed, meta.Dim, meta.Raw["sketch_scheme"])
	}
	full, sk := grads["full"], grads["countsketch:64"]
	if len(full) == 0 || len(full) != len(sk) {
		t.Fatalf("%d full rows, %d sketched", len(full), len(sk))
	}
	p := NewProjection("countsketch:64", 5)
	for i := range full {
		want := make([]float32, 64)
		p.Project(want, full[i].Grad)
		if fmt.Sprint(want) != fmt.Sprint(sk[i].Grad) {
			t.Errorf("row %d (%s %d %s): sketch differs from the full vector's", i, full[i].Kind, full[i].Pair, full[i].Side)
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/train"
)

// TestMergedAnalysisIsOneRun: the run directory train -merge writes from a
// series of analyses (two checkpoints, two shards each) is one run for
// gradstat: a steps row per checkpoint step with all the pairs, pairs rows
// from pairs.arrows and count-sketch estimates from grads.arrows, one runs
// row with the probe series' first and last steps, and no warnings.
func TestMergedAnalysisIsOneRun(t *testing.T) {
	g := prefdata.DefaultGenConfig()
	if err := g.ApplyPreset("long-suffix"); err != nil {
		t.Fatal(err)
	}
	g.Vocab, g.NSFT, g.NTrain, g.NTest = 64, 4, 4, 10
	d, err := prefdata.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := model.Config{V: 64, T: 64, C: 16, L: 2, H: 2, Tied: true}
	var parts []string
	for i, step := range []int64{64, 24} {
		m := model.New[float32](cfg)
		m.Init(uint64(i + 1))
		ck := filepath.Join(dir, "ck"+string(rune('a'+i))+".safetensors")
		if err := train.WriteModel(ck, &train.Checkpoint{Model: cfg, Params: m.Params}); err != nil {
			t.Fatal(err)
		}
		for sh := range 2 {
			c := train.AnalyzeConfig{Mode: train.ModeAnalyze, Init: ck, Step: step, Split: prefdata.SplitTest, Shard: sh, Shards: 2,
				Pref: train.PrefConfig{Ref: filepath.Join(dir, "cka.safetensors"), Loss: "dpo", Grads: "countsketch:256", SketchSeed: 1}}
			c.Pref.Params.Beta = 0.1
			if err := train.PrepareAnalyze(&c, d); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "part", string(rune('a'+i))+string(rune('0'+sh)))
			if err := train.Analyze(context.Background(), c, d, train.Options{Dir: out, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, out)
		}
	}
	run := filepath.Join(dir, "series")
	if err := train.MergeAnalyses(run, parts); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCmd(t, nil, "-table", "steps", "-format", "tsv", run)
	if code != 0 || stderr != "" {
		t.Fatalf("steps: exit %d, stderr %q", code, stderr)
	}
	rows := parseTSV(t, out)
	if len(rows) != 2 || rows[0]["step"] != "24" || rows[1]["step"] != "64" || rows[0]["n"] != "10" || rows[0]["kind"] != "probe" {
		t.Fatalf("steps table: %v", rows)
	}
	out, stderr, code = runCmd(t, nil, "-table", "pairs", "-format", "tsv", run)
	if code != 0 || stderr != "" {
		t.Fatalf("pairs: exit %d, stderr %q", code, stderr)
	}
	var exact, est int
	for _, r := range parseTSV(t, out) {
		switch {
		case r["source"] == "pairs" && r["estimate"] == "false":
			exact++
		case r["source"] == "grads" && r["estimate"] == "true" && num(t, r, "dot_se") > 0:
			est++
		default:
			t.Errorf("row %v", r)
		}
	}
	if exact != 20 || est != 20 {
		t.Errorf("%d exact rows and %d estimates, want 20 and 20", exact, est)
	}
	out, _, code = runCmd(t, nil, "-table", "runs", "-format", "tsv", run)
	if rs := parseTSV(t, out); code != 0 || len(rs) != 1 || rs[0]["probe_steps"] != "2" || rs[0]["steps"] != "2" {
		t.Errorf("runs table: exit %d, %v", code, rs)
	}
	if _, err := os.Stat(filepath.Join(run, "DONE")); err != nil || !strings.HasSuffix(run, "series") {
		t.Error(err)
	}
}

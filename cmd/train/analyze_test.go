package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/train"
)

// TestAnalyzeCLI: train -mode analyze on checkpoint-N folders (step from the
// name), two shards each, then train -merge; usage errors exit 2 with one
// line, a merge of an incomplete series exits 1.
func TestAnalyzeCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "long-suffix", 64)
	cfg := model.Config{V: 64, T: 64, C: 16, L: 1, H: 2, Tied: true}
	var cks []string
	for i, s := range []string{"checkpoint-40", "checkpoint-80"} {
		m := model.New[float32](cfg)
		m.Init(uint64(i + 1))
		p := filepath.Join(dir, s, "model.safetensors")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := train.WriteModel(p, &train.Checkpoint{Model: cfg, Params: m.Params}); err != nil {
			t.Fatal(err)
		}
		cks = append(cks, p)
	}
	var parts []string
	for _, ck := range cks {
		for _, sh := range []string{"0/2", "1/2"} {
			out := filepath.Join(dir, "parts", filepath.Base(filepath.Dir(ck))+"-"+sh[:1])
			_, stderr, code := trainCmd(t, ctx, nil, "-mode", "analyze", "-init", ck, "-ref", cks[0], "-shard", sh, "-pairs", "6",
				"-beta", "0.1", "-grads", "countsketch:16", "-q", "-out", out, data)
			if code != 0 {
				t.Fatalf("analyze %s %s: exit %d, %s", ck, sh, code, stderr)
			}
			parts = append(parts, out)
		}
	}
	run := filepath.Join(dir, "series")
	if _, stderr, code := trainCmd(t, ctx, nil, append([]string{"-merge", run}, parts...)...); code != 0 {
		t.Fatalf("merge: exit %d, %s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(run, "DONE")); err != nil || string(b) != "80\n" {
		t.Errorf("DONE: %q, %v", b, err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-mode", "analyze", "-out", filepath.Join(dir, "x"), data}, 2, "needs -init"},
		{[]string{"-mode", "analyze", "-init", cks[0], "-shard", "2/2", "-out", filepath.Join(dir, "x"), data}, 2, "-shard must be i/n"},
		{[]string{"-mode", "analyze", "-init", cks[0], "-steps", "3", "-out", filepath.Join(dir, "x"), data}, 2, "-steps does not apply to -mode analyze"},
		{[]string{"-mode", "analyze", "-init", cks[0], "-grads", "countsketch:0", "-out", filepath.Join(dir, "x"), data}, 2, "-grads must be full, sketch:K or countsketch:K"},
		{[]string{"-mode", "pref", "-init", cks[0], "-grads", "countsketch:x", "-dump-every", "1", "-out", filepath.Join(dir, "x"), data}, 2, "-grads must be full, sketch:K or countsketch:K"},
		{[]string{"-mode", "sft", "-step", "3", "-out", filepath.Join(dir, "x"), data}, 2, "-step applies to -mode analyze only"},
		{[]string{"-mode", "analyze", "-init", filepath.Join(dir, "parts"), "-out", filepath.Join(dir, "x"), data}, 1, ""},
		{append([]string{"-merge", filepath.Join(dir, "m")}, parts[:3]...), 1, "1 of 2 shards"},
		{[]string{"-merge", filepath.Join(dir, "m")}, 2, "needs the analysis directories"},
	} {
		_, stderr, code := trainCmd(t, ctx, nil, tc.args...)
		if code != tc.code || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
	}
}

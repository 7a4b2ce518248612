package main

import (
	"context"
	"entangle/pkg/runfmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDist: -mode dist prints a header and one row per response position of
// the split's pairs (1t: one position per side), probabilities consistent
// with the log-probs, the top tokens sorted; bad flags are usage errors.
func TestDist(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	if _, stderr, code := trainCmd(t, ctx, nil, "-q", "-steps", "2", "-out", filepath.Join(dir, "m"), data); code != 0 {
		t.Fatalf("sft: exit %d, %s", code, stderr)
	}
	ckpt := filepath.Join(dir, "m", runfmt.ModelFile)
	out, stderr, code := trainCmd(t, ctx, nil, "-mode", "dist", "-init", ckpt, "-k", "3", "-pairs", "4", data)
	if code != 0 || stderr != "" {
		t.Fatalf("dist: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+4*2 {
		t.Fatalf("%d lines, want a header and 8 rows:\n%s", len(lines), out)
	}
	hdr := strings.Split(lines[0], "\t")
	col := map[string]int{}
	for i, h := range hdr {
		col[h] = i
	}
	if len(hdr) != 11+2*3 || hdr[len(hdr)-1] != "top3_p" {
		t.Fatalf("header %q", lines[0])
	}
	f := func(rec []string, name string) float64 {
		v, err := strconv.ParseFloat(rec[col[name]], 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", name, rec[col[name]], err)
		}
		return v
	}
	for _, l := range lines[1:] {
		rec := strings.Split(l, "\t")
		if len(rec) != len(hdr) {
			t.Fatalf("row %q has %d fields, want %d", l, len(rec), len(hdr))
		}
		if rec[col["pos"]] != "0" || rec[col["contrastive"]] != "true" || rec[col["token"]] == rec[col["other_token"]] {
			t.Errorf("1t row %q: want position 0, contrastive, the two label words", l)
		}
		if p, lp := f(rec, "p"), f(rec, "logp"); math.Abs(p-math.Exp(lp)) > 1e-7*p {
			t.Errorf("p %v is not exp(logp %v)", p, lp)
		}
		p1, p2, p3 := f(rec, "top1_p"), f(rec, "top2_p"), f(rec, "top3_p")
		if !(p1 >= p2 && p2 >= p3) || math.Abs(f(rec, "top_mass")-(p1+p2+p3)) > 1e-7 {
			t.Errorf("top probabilities %v %v %v, mass %v", p1, p2, p3, f(rec, "top_mass"))
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "dist", data}, "train: -mode dist needs -init CHECKPOINT"},
		{[]string{"-mode", "dist", "-init", ckpt, "-lr", "0.1", data}, "train: -lr does not apply to -mode dist"},
		{[]string{"-mode", "dist", "-init", ckpt, "-k", "0", data}, "train: -k must be at least 1, got 0"},
		{[]string{"-mode", "dist", "-init", ckpt, "-split", "dev", data}, "train: -split must be sft, train or test"},
		{[]string{"-k", "3", "-out", filepath.Join(dir, "x"), data}, "train: -k applies to -mode dist only"},
	} {
		out, stderr, code := trainCmd(t, ctx, nil, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	_, stderr, code = trainCmd(t, ctx, nil, "-mode", "dist", "-init", filepath.Join(dir, "nope"), data)
	if code != 1 || !strings.Contains(stderr, "nope") {
		t.Errorf("missing checkpoint: exit %d, stderr %q", code, stderr)
	}
}

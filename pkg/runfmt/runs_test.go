package runfmt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathLabel(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"sweeps/cmp/task=long-suffix/loss=dpo/seed=1", "task=long-suffix/loss=dpo/seed=1"},
		{"runs/plain", ""},
		{"/a/lr=3e-4/./b", "lr=3e-4"},
		{"=x/y", ""},
	} {
		if got := PathLabel(tc.path); got != tc.want {
			t.Errorf("PathLabel(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	if got := LabelKeys([]string{"loss=dpo/seed=1/steps=100", "task=t/seed=2"}); strings.Join(got, ",") != "loss,seed,steps,task" {
		t.Errorf("LabelKeys = %v", got)
	}
	if v, ok := LabelValue("a=1/b=2/a=3", "a"); !ok || v != "3" {
		t.Errorf("LabelValue innermost = %q, %v", v, ok)
	}
	if _, ok := LabelValue("a=1", "b"); ok {
		t.Error("LabelValue of an absent key")
	}
}

// TestResolve: a run directory is one run labelled by its key=value parts or
// its path; a sweep gives every run directory below it in path order,
// labelled relative to the sweep; a file is one run; a directory without
// runs is an error naming the stream files.
func TestResolve(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string, files ...string) string {
		d := filepath.Join(root, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	mk("sw/loss=ipo/seed=1", "pairs.arrows", "DONE")
	mk("sw/loss=dpo/seed=1", "steps.arrows", "pairs.arrows", "attrib.arrows")
	mk("sw/plain", "grads.arrows")
	mk("empty")
	runs, err := Resolve(filepath.Join(root, "sw"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Label)
	}
	if strings.Join(got, " ") != "loss=dpo/seed=1 loss=ipo/seed=1 plain" {
		t.Errorf("sweep labels %v", got)
	}
	if !runs[0].InProgress || runs[1].InProgress {
		t.Errorf("InProgress %v %v, want true (no DONE), false", runs[0].InProgress, runs[1].InProgress)
	}
	if len(runs[0].Files) != 3 || filepath.Base(runs[0].Files[2]) != "attrib.arrows" {
		t.Errorf("files %v", runs[0].Files)
	}
	one, err := Resolve(filepath.Join(root, "sw", "loss=dpo", "seed=1"))
	if err != nil || len(one) != 1 || one[0].Label != "loss=dpo/seed=1" {
		t.Errorf("run dir: %+v, %v", one, err)
	}
	plain := filepath.Join(root, "sw", "plain") + "/"
	if one, err := Resolve(plain); err != nil || one[0].Label != filepath.Join(root, "sw", "plain") {
		t.Errorf("plain run dir label %+v, %v", one, err)
	}
	if one, err := Resolve(filepath.Join(root, "sw", "loss=ipo", "seed=1", "pairs.arrows")); err != nil || one[0].Label != "loss=ipo/seed=1" || one[0].Dir != "" {
		t.Errorf("file: %+v, %v", one, err)
	}
	if one, _ := Resolve("-"); one[0].Label != StdinLabel {
		t.Errorf("stdin label %q", one[0].Label)
	}
	if _, err := Resolve(filepath.Join(root, "empty")); err == nil || !strings.Contains(err.Error(), "steps.arrows, pairs.arrows, grads.arrows") {
		t.Errorf("empty dir: %v", err)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/internal/arrowcheck"
)

// TestRun writes the fixtures, then their manifest, in-process.
func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fx")
	var out bytes.Buffer
	if err := run([]string{"fixtures", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(out.String())
	if len(paths) != 6 {
		t.Fatalf("fixtures printed %q, want 6 paths", out.String())
	}
	mpath := filepath.Join(t.TempDir(), "m.json")
	if err := run(append([]string{"-o", mpath}, paths...), &out, &out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m arrowcheck.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 6 {
		t.Fatalf("manifest has %d files, want 6", len(m.Files))
	}
	for i, f := range m.Files {
		want := 3 // the empty fixtures have a schema and no batch
		if strings.HasPrefix(filepath.Base(f.Path), "empty.") {
			want = 0
		}
		if f.Path != paths[i] || f.Batches != want {
			t.Errorf("file %d: path %s batches %d, want %s and %d", i, f.Path, f.Batches, paths[i], want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
	}{
		{"bad flag", []string{"-x"}, true},
		{"no inputs", nil, true},
		{"fixtures without dir", []string{"fixtures"}, true},
		{"missing file", []string{filepath.Join(t.TempDir(), "none.arrow")}, false},
	} {
		var out bytes.Buffer
		err := run(tc.args, &out, &out)
		if err == nil {
			t.Errorf("%s: run(%q) succeeded", tc.name, tc.args)
			continue
		}
		if got := errors.As(err, new(usageError)); got != tc.usage {
			t.Errorf("%s: run(%q) = %v, usage error %v, want %v", tc.name, tc.args, err, got, tc.usage)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"-h"}, &out, &out); err != nil || !strings.Contains(out.String(), "usage: arrowsum") {
		t.Errorf("run(-h) = %v, output %q", err, out.String())
	}
}

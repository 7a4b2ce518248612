package runfmt

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRemoveOutputs: for every output of Layout (so that a new one is
// covered by adding it to the table), RemoveOutputs removes the file and
// its temporary and side files, and leaves a sweep log and other files.
func TestRemoveOutputs(t *testing.T) {
	dir := t.TempDir()
	keep := []string{SweepLog, "notes.txt", ".hidden", "steps.arrows.bak"}
	var all []string
	for _, f := range Layout {
		all = append(all, f.Name, ResumeCopy(f.Name), OldCopy(f.Name), "."+f.Name+".tmp123456")
	}
	for _, name := range append(slices.Clone(all), keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveOutputs(dir); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Fatalf("left %q, want %q", left, keep)
	}
	// A missing directory is nothing to remove.
	if err := RemoveOutputs(filepath.Join(dir, "none")); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveTempsKeepsOld: without old, the .NAME.old copies (a source of
// rows for a resume) stay; the temporary files go.
func TestRemoveTempsKeepsOld(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{OldCopy(PairsFile), ResumeCopy(PairsFile), ".checkpoint.safetensors.tmp42", CheckpointFile} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveTemps(dir, false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{OldCopy(PairsFile): true, ResumeCopy(PairsFile): false, ".checkpoint.safetensors.tmp42": false, CheckpointFile: true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}

// TestLayoutNames: names are unique, and every stream format has its file.
func TestLayoutNames(t *testing.T) {
	seen := map[string]bool{}
	formats := map[string]bool{}
	for _, f := range Layout {
		if seen[f.Name] {
			t.Errorf("%s twice", f.Name)
		}
		seen[f.Name] = true
		formats[f.Format] = true
	}
	for _, f := range []string{FormatSteps, FormatPairs, FormatGrads, FormatAttrib} {
		if !formats[f] {
			t.Errorf("no file of format %s in Layout", f)
		}
	}
}

package runfmt

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Run and sweep resolution, and the one run label, shared by gradstat, plot
// and sweep.
//
// A run is named by its label: the key=value parts of its path joined by
// "/" ("task=1t/loss=dpo/seed=1", the directory sweep writes it to below
// its root), or, for a path with no key=value part, the path as given on
// the command line (cleaned, slash-separated), or "<stdin>".

// runStreams are the stream files whose presence makes a directory a run
// directory; runFiles are every stream a run directory may hold, in the
// order they are read; runDone marks a finished run.
var (
	runStreams = []string{StepsFile, PairsFile, GradsFile}
	runFiles   = []string{StepsFile, PairsFile, GradsFile, AttribFile}
	runDone    = DoneFile
)

// StdinLabel is the label of a run read from standard input.
const StdinLabel = "<stdin>"

// RunInput is one run to read: its label and the streams that hold it.
type RunInput struct {
	Label string
	Dir   string   // the run directory, or "" for a file or stdin
	Files []string // stream paths ("-" is standard input)
	// InProgress is true for a run directory without DONE: a stream that
	// ends in the middle of a message is then the normal state of a run
	// still being written, read up to its last complete step.
	InProgress bool
}

// Label joins key=value parts into a run label.
func Label(parts []string) string { return strings.Join(parts, "/") }

// PathLabel returns the key=value components of path as a label, or "" if
// there are none.
func PathLabel(path string) string {
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(filepath.Clean(path)), "/") {
		if k, _, ok := strings.Cut(p, "="); ok && k != "" {
			parts = append(parts, p)
		}
	}
	return Label(parts)
}

// labelOr returns the label of path, else the path itself.
func labelOr(path string) string {
	if l := PathLabel(path); l != "" {
		return l
	}
	return filepath.ToSlash(filepath.Clean(path))
}

// LabelValue returns the value of key in label (the innermost occurrence
// wins) and whether it is there.
func LabelValue(label, key string) (string, bool) {
	v, ok := "", false
	for _, kv := range strings.Split(label, "/") {
		if k, val, has := strings.Cut(kv, "="); has && k == key {
			v, ok = val, true
		}
	}
	return v, ok
}

// LabelKeys returns the keys of the key=value parts of labels, in order of
// first appearance.
func LabelKeys(labels []string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, l := range labels {
		for _, kv := range strings.Split(l, "/") {
			if k, _, ok := strings.Cut(kv, "="); ok && k != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// IsRunDir reports whether dir holds a run's stream.
func IsRunDir(dir string) bool {
	for _, f := range runStreams {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func runDirInput(dir, label string) RunInput {
	in := RunInput{Label: label, Dir: dir}
	for _, f := range runFiles {
		p := filepath.Join(dir, f)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			in.Files = append(in.Files, p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, runDone)); err != nil {
		in.InProgress = true
	}
	return in
}

// Resolve turns a command-line argument into runs: "-" (stdin) or a stream
// file is one run; a run directory (holding steps, pairs or grads.arrows) is
// one run; any other directory is a sweep, searched at any depth for run
// directories, in the sorted order of their paths, each labelled by the
// key=value parts of its path below the sweep (else that relative path).
func Resolve(arg string) ([]RunInput, error) {
	if arg == "-" || arg == "" {
		return []RunInput{{Label: StdinLabel, Files: []string{"-"}}}, nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		label := PathLabel(filepath.Dir(arg))
		if label == "" {
			label = filepath.ToSlash(filepath.Clean(arg))
		}
		return []RunInput{{Label: label, Files: []string{arg}}}, nil
	}
	if IsRunDir(arg) {
		return []RunInput{runDirInput(arg, labelOr(arg))}, nil
	}
	var out []RunInput
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || !IsRunDir(p) {
			return nil
		}
		rel, _ := filepath.Rel(arg, p)
		out = append(out, runDirInput(p, labelOr(rel)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no run directories (with %s) below it", arg, strings.Join(runStreams, ", "))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

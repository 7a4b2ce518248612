package gradstat

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Stream file names in a run directory (formats.md).
const (
	StepsFile = "steps.arrows"
	PairsFile = "pairs.arrows"
	GradsFile = "grads.arrows"
	// AttribFile is train -attrib's stream (read for -table attrib).
	AttribFile = "attrib.arrows"
	DoneFile   = "DONE"
)

// Input is one run to read: its label and the streams that hold it.
type Input struct {
	Label string
	Dir   string   // the run directory, or "" for a file or stdin
	Files []string // stream paths ("-" is standard input)
	// InProgress is true for a run directory without DONE: a stream that
	// ends in the middle of a message is then read up to its last complete
	// step without an error.
	InProgress bool
}

// Labels returns the key=value components of path joined by "/", or "" if
// there are none (sweep directories are named task=…/loss=…/seed=…).
func Labels(path string) string {
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(filepath.Clean(path)), "/") {
		if k, _, ok := strings.Cut(p, "="); ok && k != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

func isRunDir(dir string) bool {
	for _, f := range []string{StepsFile, PairsFile, GradsFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func runInput(dir, label string) Input {
	in := Input{Label: label, Dir: dir}
	for _, f := range []string{StepsFile, PairsFile, GradsFile, AttribFile} {
		p := filepath.Join(dir, f)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			in.Files = append(in.Files, p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, DoneFile)); err != nil {
		in.InProgress = true
	}
	return in
}

// Resolve turns a command-line argument into inputs: "-" (stdin) or a file
// is one input; a run directory (holding steps/pairs/grads.arrows) is one
// input; any other directory is a sweep, searched at any depth for run
// directories, each labelled by the key=value parts of its path (else its
// path relative to the sweep).
func Resolve(arg string) ([]Input, error) {
	if arg == "-" || arg == "" {
		return []Input{{Label: "<stdin>", Files: []string{"-"}}}, nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		label := Labels(filepath.Dir(arg))
		if label == "" {
			label = filepath.Clean(arg)
		}
		return []Input{{Label: label, Files: []string{arg}}}, nil
	}
	if isRunDir(arg) {
		label := Labels(arg)
		if label == "" {
			label = filepath.Clean(arg)
		}
		return []Input{runInput(arg, label)}, nil
	}
	var out []Input
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || !isRunDir(p) {
			return nil
		}
		rel, _ := filepath.Rel(arg, p)
		label := Labels(rel)
		if label == "" {
			label = filepath.ToSlash(rel)
		}
		out = append(out, runInput(p, label))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no run directories (with %s, %s or %s) below it", arg, StepsFile, PairsFile, GradsFile)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

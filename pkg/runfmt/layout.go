package runfmt

import (
	"entangle/internal/atomicfile"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// The files of a run directory (train -out DIR). Every package names them
// through these constants; Layout lists them with what they hold.
const (
	ConfigFile     = "config.json"            // the resolved train config
	StepsFile      = "steps.arrows"           // FormatSteps
	PairsFile      = "pairs.arrows"           // FormatPairs (-mode pref)
	GradsFile      = "grads.arrows"           // FormatGrads (-grads)
	AttribFile     = "attrib.arrows"          // FormatAttrib (-attrib)
	CheckpointFile = "checkpoint.safetensors" // the latest resumable state
	ModelFile      = "model.safetensors"      // the final weights
	AdapterDir     = "adapter"                // -lora: the adapters in peft's layout (a directory)
	DoneFile       = "DONE"                   // written last: the run is complete

	// SweepLog is the log a sweep runner creates in a run's directory before
	// train starts there; it is not an output of the run.
	SweepLog = "sweep.log"
)

// RunFile is one output file of a run directory.
type RunFile struct {
	Name   string // file name in the run directory
	Format string // "format" metadata of the file, "" for config.json and DONE
	What   string // one line for documentation
}

// Layout is the table of a run directory's outputs, in the order a run
// writes them. A new output is added here, and -force (RemoveOutputs) and
// resume (RemoveTemps) then handle it.
var Layout = []RunFile{
	{ConfigFile, "", "the resolved train config (also in every output's metadata)"},
	{StepsFile, FormatSteps, "one record batch per step: the train row and any eval row"},
	{PairsFile, FormatPairs, "-mode pref: one row per training pair of a step, probe rows at dump steps"},
	{GradsFile, FormatGrads, "-grads: gradient vectors at dump steps"},
	{AttribFile, FormatAttrib, "-attrib: probe × training-pair gradient dots at dump steps"},
	{CheckpointFile, "entangle.checkpoint", "the latest state: weights, optimizer state, step"},
	{ModelFile, "entangle.model", "the final weights (a later stage's -init or -ref)"},
	{AdapterDir, "", "-lora: the final adapters, a peft LoRA directory (adapter_config.json, adapter_model.safetensors)"},
	{DoneFile, "", "written last, atomically, with the final step"},
}

// TempPattern is the os.CreateTemp pattern of an atomic write of the output
// name. The temporary and side files of an output NAME are all hidden:
//
//	.NAME.tmp*    an atomic write in progress (safetensors, config.json, DONE)
//	.NAME.resume  a resumed run's copy of the stream's rows, renamed over NAME when complete
//	.NAME.old     a stream moved aside by an earlier version's resume (read once, then removed)
func TempPattern(name string) string { return atomicfile.TempPattern(name) }

// ResumeCopy is the temporary file a resume copies the stream name into.
func ResumeCopy(name string) string { return "." + name + ".resume" }

// OldCopy is where an earlier version's resume moved the stream name aside.
func OldCopy(name string) string { return "." + name + ".old" }

// RemoveOutputs removes every output of Layout from dir, and every temporary
// or side file of one: what -force does before a new run. Other files (a
// SweepLog, the user's) are left.
func RemoveOutputs(dir string) error {
	for _, f := range Layout {
		if f.Name == AdapterDir {
			if err := os.RemoveAll(filepath.Join(dir, f.Name)); err != nil {
				return err
			}
			continue
		}
		if err := removeIfExists(filepath.Join(dir, f.Name)); err != nil {
			return err
		}
	}
	return RemoveTemps(dir, true)
}

// RemoveTemps removes the temporary files of dir's outputs left by killed
// writes (.NAME.tmp*, .NAME.resume); with old, also the .NAME.old copies.
func RemoveTemps(dir string, old bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if isTemp(e.Name(), old) {
			if err := removeIfExists(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func isTemp(name string, old bool) bool {
	for _, f := range Layout {
		tmp := strings.TrimSuffix(TempPattern(f.Name), "*")
		switch {
		case strings.HasPrefix(name, tmp), name == ResumeCopy(f.Name), old && name == OldCopy(f.Name):
			return true
		}
	}
	return false
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file
// (TempPattern(name)), fsync and rename: a reader sees the old file or the
// new one, never a part (internal/atomicfile).
func WriteFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }

package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/loss"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// sameRun checks that the run in dir has the outputs of the uninterrupted
// run in full: every file byte for byte (steps.arrows row by row, but for
// the wall-time column ms), and no other file (no temporary left).
func sameRun(t *testing.T, full, dir string) {
	t.Helper()
	want, got := dirNames(t, full), dirNames(t, dir)
	if want != got {
		t.Fatalf("files %s, want %s", got, want)
	}
	for _, f := range runfmt.Layout {
		p := filepath.Join(full, f.Name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if f.Name == runfmt.StepsFile {
			sameRows(t, readSteps(t, full), readSteps(t, dir))
			continue
		}
		if f.Name == runfmt.AdapterDir {
			for _, name := range []string{hfmodel.AdapterConfigFile, hfmodel.AdapterWeightsFile} {
				if !bytes.Equal(readFile(t, filepath.Join(p, name)), readFile(t, filepath.Join(dir, f.Name, name))) {
					t.Errorf("%s/%s differs from the uninterrupted run's", f.Name, name)
				}
			}
			continue
		}
		if !bytes.Equal(readFile(t, p), readFile(t, filepath.Join(dir, f.Name))) {
			t.Errorf("%s differs from the uninterrupted run's", f.Name)
		}
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// resumeFixture returns the data, an uninterrupted pref run with every
// stream (-grads full with the training pairs' gradients, -attrib), and a
// copy of the same run interrupted after step k.
func resumeFixture(t *testing.T, k int) (d *prefdata.Dataset, full, part string) {
	t.Helper()
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Attrib, pc.DumpTrain, pc.DumpEvery = true, true, 3 })
	d = data1t(t, 128)
	full = filepath.Join(t.TempDir(), "full")
	if err := Run(context.Background(), cfg, d, Options{Dir: full, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	part = filepath.Join(t.TempDir(), "part")
	ctx, cancel := context.WithCancel(context.Background())
	if k == 0 {
		cancel()
	}
	err := Run(ctx, cfg, d, Options{Dir: part, Quiet: true, AfterStep: func(s int) {
		if s == k {
			cancel()
		}
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	return d, full, part
}

// failingFile is a stream file that fails every write after its budget of
// bytes (shared by the files of one resume) is spent, as a full disk does;
// with kill, the process kills itself instead (SIGKILL: no deferred call
// runs).
type failingFile struct {
	*os.File
	budget *int64
	kill   bool
}

var errDiskFull = fmt.Errorf("write: %w", syscall.ENOSPC)

func (f *failingFile) Write(p []byte) (int, error) {
	n := int64(len(p))
	if n > *f.budget {
		n = *f.budget
	}
	m, err := f.File.Write(p[:n])
	*f.budget -= int64(m)
	if err != nil {
		return m, err
	}
	if m < len(p) {
		if f.kill {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return m, errDiskFull
	}
	return m, nil
}

// withBudget makes the stream files created until the returned function
// is called fail (or kill the process) after budget bytes in all.
func withBudget(budget int64, kill bool) (restore func()) {
	orig := createFile
	createFile = func(path string) (streamFile, error) {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		return &failingFile{File: f, budget: &budget, kill: kill}, nil
	}
	return func() { createFile = orig }
}

// countBytes returns the bytes a clean resume of a copy of part writes to
// its streams.
func countBytes(t *testing.T, d *prefdata.Dataset, part string) int64 {
	dir := filepath.Join(t.TempDir(), "count")
	copyDir(t, part, dir)
	var n int64
	orig := createFile
	createFile = func(path string) (streamFile, error) {
		f, err := os.Create(path)
		return &countingFile{f, &n}, err
	}
	defer func() { createFile = orig }()
	if err := Resume(context.Background(), d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	return n
}

type countingFile struct {
	*os.File
	n *int64
}

func (f *countingFile) Write(p []byte) (int, error) {
	m, err := f.File.Write(p)
	*f.n += int64(m)
	return m, err
}

// TestResumeAfterFailedResume: a resume that fails after k bytes of its
// writes (a full disk), for k spread over the whole resume (the copies of
// the four streams, then the new steps, then the end-of-stream markers),
// and then a second failing resume at another point, leave a run that a
// last resume completes with outputs identical to the uninterrupted run's.
func TestResumeAfterFailedResume(t *testing.T) {
	const k = 5
	d, full, part := resumeFixture(t, k)
	total := countBytes(t, d, part)
	const points = 24
	for i := range points + 1 {
		budget := total * int64(i) / points
		if i == 0 {
			budget = 1
		}
		t.Run(strconv.FormatInt(budget, 10), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			copyDir(t, part, dir)
			for _, b := range []int64{budget, budget/3 + 7} {
				restore := withBudget(b, false)
				err := Resume(context.Background(), d, Options{Dir: dir, Quiet: true})
				restore()
				if b < total && !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("resume failing after %d of %d bytes: err %v, want ENOSPC", b, total, err)
				}
				if err == nil {
					break
				}
			}
			if _, err := os.Stat(filepath.Join(dir, runfmt.DoneFile)); err != nil {
				if err := Resume(context.Background(), d, Options{Dir: dir, Quiet: true}); err != nil {
					t.Fatal(err)
				}
			}
			sameRun(t, full, dir)
		})
	}
}

// TestResumeKilled: a resume killed (SIGKILL, in a child process) after k
// bytes of its writes leaves a run that the next resume completes with
// outputs identical to the uninterrupted run's.
func TestResumeKilled(t *testing.T) {
	if dir := os.Getenv("ENTANGLE_TEST_KILL_DIR"); dir != "" {
		budget, _ := strconv.ParseInt(os.Getenv("ENTANGLE_TEST_KILL_AT"), 10, 64)
		withBudget(budget, true)
		err := Resume(context.Background(), data1t(t, 128), Options{Dir: dir, Quiet: true})
		t.Fatalf("resume was not killed (err %v)", err)
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const k = 4
	d, full, part := resumeFixture(t, k)
	total := countBytes(t, d, part)
	for _, frac := range []float64{0.01, 0.3, 0.6, 0.97} {
		budget := int64(frac * float64(total))
		t.Run(strconv.FormatInt(budget, 10), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			copyDir(t, part, dir)
			cmd := exec.Command(os.Args[0], "-test.run=^TestResumeKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), "ENTANGLE_TEST_KILL_DIR="+dir, "ENTANGLE_TEST_KILL_AT="+strconv.FormatInt(budget, 10))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child: %v, want killed by SIGKILL\n%s", err, out)
			}
			if err := Resume(context.Background(), d, Options{Dir: dir, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			sameRun(t, full, dir)
		})
	}
}

// TestResumeFromStepZero: a run interrupted before its first step finishes
// leaves a step-0 checkpoint; the resumed run writes the step-0 eval row
// once, as an uninterrupted run does. And a killed checkpoint write's
// temporary file is removed by the resume.
func TestResumeFromStepZero(t *testing.T) {
	d, full, part := resumeFixture(t, 0)
	ck, err := ReadCheckpoint(filepath.Join(part, runfmt.CheckpointFile))
	if err != nil || ck.Step != 0 {
		t.Fatalf("checkpoint %v, err %v: want step 0", ck, err)
	}
	stale := filepath.Join(part, "."+runfmt.CheckpointFile+".tmp123")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	sameRun(t, full, part)

	// SFT
	cfg := testConfig(t, d, 6)
	fullSFT, partSFT := filepath.Join(t.TempDir(), "full"), filepath.Join(t.TempDir(), "part")
	if err := Run(context.Background(), cfg, d, Options{Dir: fullSFT, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, cfg, d, Options{Dir: partSFT, Quiet: true}); !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	if err := Resume(context.Background(), d, Options{Dir: partSFT, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	sameRun(t, fullSFT, partSFT)
}

// TestResumeFromOldCopy: a run whose resume by an earlier version was
// killed while copying (the stream moved to .NAME.old, a partial NAME)
// resumes from the .old copy.
func TestResumeFromOldCopy(t *testing.T) {
	d, full, part := resumeFixture(t, 5)
	for _, name := range []string{runfmt.PairsFile, runfmt.GradsFile} {
		p := filepath.Join(part, name)
		if err := os.Rename(p, filepath.Join(part, runfmt.OldCopy(name))); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("ARROW1 partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	sameRun(t, full, part)
}

// TestResumeRefusesIncompleteStream: a stream that lacks a step before the
// checkpoint's is an error naming the file and the step, and leaves the
// stream as it was.
func TestResumeRefusesIncompleteStream(t *testing.T) {
	d, _, part := resumeFixture(t, 5)
	p := filepath.Join(part, runfmt.PairsFile)
	b := readFile(t, p)
	cut := b[:len(b)*2/5] // a few steps' batches
	if err := os.WriteFile(p, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Resume(context.Background(), d, Options{Dir: part, Quiet: true})
	if err == nil || !strings.Contains(err.Error(), runfmt.PairsFile) || !strings.Contains(err.Error(), "checkpoint is at step 5") {
		t.Fatalf("err %v, want one naming %s and the checkpoint's step", err, runfmt.PairsFile)
	}
	if !errors.Is(err, runfmt.ErrTruncated) {
		t.Errorf("err %v does not wrap runfmt.ErrTruncated", err)
	}
	if !bytes.Equal(readFile(t, p), cut) {
		t.Error("the failed resume changed the stream")
	}
}

// TestResumeValidatesCheckpointConfig: the checkpoint's train config is
// validated as the flags are; each bad value is an error naming the
// checkpoint and the setting, never a panic or a run.
func TestResumeValidatesCheckpointConfig(t *testing.T) {
	d, _, part := resumeFixture(t, 3)
	path := filepath.Join(part, runfmt.CheckpointFile)
	good, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		mod  func(c *Checkpoint)
		want string
	}{
		{"batch 0", func(c *Checkpoint) { c.Train.Batch = 0 }, "-batch must be at least 1"},
		{"negative lr", func(c *Checkpoint) { c.Train.LR = -1 }, "-lr must be > 0"},
		{"zero lr", func(c *Checkpoint) { c.Train.LR = 0 }, "-lr must be > 0"},
		{"bogus mode", func(c *Checkpoint) { c.Train.Mode = "bogus" }, "-mode must be"},
		{"lion", func(c *Checkpoint) { c.Train.Optim = "lion" }, "-optim must be adamw or sgd"},
		{"bogus decay", func(c *Checkpoint) { c.Train.Decay = "step" }, "-decay must be"},
		{"negative steps", func(c *Checkpoint) { c.Train.Steps = -5 }, "-steps must be ≥ 0"},
		{"step past the end", func(c *Checkpoint) { c.Step = c.Train.Steps + 1 }, "past the run's"},
		{"no pref settings", func(c *Checkpoint) { c.Train.Pref = nil }, "without its settings"},
		{"pref without init", func(c *Checkpoint) { c.Train.Init = "" }, "needs -init"},
		{"unknown loss", func(c *Checkpoint) { p := *c.Train.Pref; p.Loss = "nope"; c.Train.Pref = &p }, "nope"},
		{"bad beta", func(c *Checkpoint) { p := *c.Train.Pref; p.Params.Beta = -1; c.Train.Pref = &p }, "Beta got=-1"},
		{"bogus sparse", func(c *Checkpoint) { p := *c.Train.Pref; p.Sparse = "bogus"; c.Train.Pref = &p }, "-sparse must be"},
		{"sketch:0", func(c *Checkpoint) { p := *c.Train.Pref; p.Grads = "sketch:0"; c.Train.Pref = &p }, "-grads must be"},
		{"attrib without dumps", func(c *Checkpoint) { p := *c.Train.Pref; p.DumpEvery = 0; c.Train.Pref = &p }, "needs -probe N > 0 and -dump-every"},
		{"token grads", func(c *Checkpoint) { p := *c.Train.Pref; p.TokenGrads = 99; c.Train.Pref = &p }, "-token-grads 99 exceeds"},
		{"negative nll", func(c *Checkpoint) { p := *c.Train.Pref; p.NLL = -1; c.Train.Pref = &p }, "-nll must be"},
		{"mode differs", func(c *Checkpoint) { c.Mode = ModeSFT }, "differs from train_config's"},
		{"model differs", func(c *Checkpoint) { c.Train.Model.H = 1 }, "model differs"},
	} {
		t.Run(c.what, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			copyDir(t, part, dir)
			ck := *good
			c.mod(&ck)
			p := filepath.Join(dir, runfmt.CheckpointFile)
			if err := WriteCheckpoint(p, &ck); err != nil {
				t.Fatal(err)
			}
			err := Resume(context.Background(), d, Options{Dir: dir, Quiet: true})
			if err == nil || !strings.Contains(err.Error(), "checkpoint "+p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one naming %s and %q", err, p, c.want)
			}
		})
	}
}

// TestForceRemovesEveryOutput: train -force over an -attrib run with a run
// without -attrib leaves no file of the first run (attrib.arrows was left
// before, and gradstat then read its rows under the new run's id), nor
// temporary files of killed writes.
func TestForceRemovesEveryOutput(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Attrib = true })
	d := data1t(t, 128)
	dir := filepath.Join(t.TempDir(), "run")
	if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, runfmt.AttribFile)); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "."+runfmt.CheckpointFile+".tmp99")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := loss.Defaults("ipo")
	ipo := cfg
	ipo.Pref = &PrefConfig{Loss: "ipo", Params: p}
	if err := CheckDir(dir, true); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), ipo, d, Options{Dir: dir, Quiet: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	want := []string{runfmt.DoneFile, runfmt.CheckpointFile, runfmt.ConfigFile, runfmt.ModelFile, runfmt.PairsFile, runfmt.StepsFile}
	if got := dirNames(t, dir); got != strings.Join(want, " ") {
		t.Fatalf("after -force: %s, want %s", got, strings.Join(want, " "))
	}
	// Every output of the layout table, whatever the mode writes.
	for _, f := range runfmt.Layout {
		if err := os.WriteFile(filepath.Join(dir, f.Name), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sft := testConfig(t, d, 2)
	if err := Run(context.Background(), sft, d, Options{Dir: dir, Quiet: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{runfmt.PairsFile, runfmt.GradsFile, runfmt.AttribFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s of the previous run survived -force", name)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"entangle/pkg/cli"
)

// sweepCmd runs the command in process and returns stdout, stderr and the exit code.
func sweepCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Name: "sweep", Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := cli.Run(context.Background(), env, run)
	return out.String(), errb.String(), code
}

// writeSpec writes text to a spec file in a fresh directory and returns the
// file and a root next to it.
func writeSpec(t *testing.T, text string) (spec, root string) {
	t.Helper()
	dir := t.TempDir()
	spec = filepath.Join(dir, "s.sweep")
	if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec, filepath.Join(dir, "out")
}

func TestHelpAndUsage(t *testing.T) {
	out, stderr, code := sweepCmd(t, "-h")
	if code != 0 || !strings.Contains(out, "usage: sweep list") || !strings.Contains(out, "Examples:") || stderr != "" {
		t.Fatalf("-h: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if out, _, code := sweepCmd(t, "run", "-h"); code != 0 || !strings.Contains(out, "-dry-run") {
		t.Fatalf("run -h: exit %d, %q", code, out)
	}
	spec, _ := writeSpec(t, "axis a 1\ncmd true\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "sweep: missing subcommand"},
		{[]string{"go", spec}, `sweep: unknown subcommand "go"`},
		{[]string{"list"}, "sweep: sweep list wants one spec file, got 0 arguments"},
		{[]string{"list", spec}, "has no root line and no -root was given"},
		{[]string{"list", "-root", "r", "-force", spec}, "sweep: -force is a flag of sweep run, not sweep list"},
		{[]string{"run", "-root", "r", "-j", "0", spec}, "-j must be at least 1"},
		{[]string{"slurm", "-root", "r", "-time", "1 h", spec}, "contains whitespace"},
		{[]string{"list", "-bogus", spec}, "flag provided but not defined: -bogus"},
	} {
		_, stderr, code := sweepCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestSpecErrorExit1(t *testing.T) {
	spec, _ := writeSpec(t, "root out\naxis seed 1 2\naxis seed 3\ncmd true\n")
	_, stderr, code := sweepCmd(t, "list", spec)
	if want := "sweep: " + spec + `:3: duplicate key "seed" (first defined on line 2)` + "\n"; code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q, want %q", code, stderr, want)
	}
	_, stderr, code = sweepCmd(t, "list", filepath.Join(t.TempDir(), "nope.sweep"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing spec: exit %d, %q", code, stderr)
	}
}

// TestListExpand: TSV with status, expand in index order with quoting, the
// root line overridden by -root.
func TestListExpand(t *testing.T) {
	spec, root := writeSpec(t, "root ignored\naxis task a b\naxis seed 1 2\nset msg it's\ncmd echo {msg} {task} {seed} > {dir}/out\n")
	done := filepath.Join(root, "task=a", "seed=2")
	os.MkdirAll(done, 0o755)
	os.WriteFile(filepath.Join(done, "DONE"), nil, 0o644)
	out, stderr, code := sweepCmd(t, "list", "-root", root, spec)
	want := "index\tdir\tstatus\ttask\tseed\n" +
		"0\t" + root + "/task=a/seed=1\ttodo\ta\t1\n" +
		"1\t" + root + "/task=a/seed=2\tdone\ta\t2\n" +
		"2\t" + root + "/task=b/seed=1\ttodo\tb\t1\n" +
		"3\t" + root + "/task=b/seed=2\ttodo\tb\t2\n"
	if code != 0 || stderr != "" || out != want {
		t.Errorf("list: exit %d, stderr %q\n got %q\nwant %q", code, stderr, out, want)
	}
	out, _, _ = sweepCmd(t, "expand", spec, "-root", root, "-todo")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || lines[1] != `echo 'it'\''s' b 1 > `+root+"/task=b/seed=1/out" {
		t.Errorf("expand -todo: %q", lines)
	}
	// -log lines run in a shell give the same files as sweep run would.
	out, _, _ = sweepCmd(t, "expand", "-log", "-root", root, spec)
	if err := exec.Command("bash", "-c", out).Run(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "task=b", "seed=2", "out"))
	if _, err := os.Stat(filepath.Join(root, "task=b", "seed=2", "sweep.log")); string(got) != "it's b 2\n" || err != nil {
		t.Errorf("expand -log: out %q, log %v", got, err)
	}
}

// TestRun: a failing run is reported and the others go on (exit 1); the spec
// is recorded; a second run resumes only the failed run; -dry-run runs nothing.
func TestRun(t *testing.T) {
	text := "axis loss,beta dpo,0.1 ipo,0.5\naxis seed 1 2\ncmd test {loss}{seed} != ipo1 && touch {dir}/DONE\n"
	spec, root := writeSpec(t, text)
	out, stderr, code := sweepCmd(t, "run", "-q", "-j", "2", "-root", root, spec)
	failLog := filepath.Join(root, "loss=ipo", "beta=0.5", "seed=1", "sweep.log")
	want := "sweep: run 2 (loss=ipo/beta=0.5/seed=1): exit 1, see " + failLog + "\nsweep: 1 of 4 runs failed\n"
	if code != 1 || out != "" || stderr != want {
		t.Fatalf("exit %d, stdout %q, stderr\n%q\nwant\n%q", code, out, stderr, want)
	}
	copyText, err := os.ReadFile(filepath.Join(root, "sweep.spec"))
	if err != nil || string(copyText) != text {
		t.Errorf("sweep.spec %q, %v", copyText, err)
	}
	list, _, _ := sweepCmd(t, "list", "-root", root, spec)
	if strings.Count(list, "\tdone\t") != 3 || !strings.Contains(list, "2\t"+root+"/loss=ipo/beta=0.5/seed=1\ttodo") {
		t.Errorf("list after run:\n%s", list)
	}
	// -dry-run prints what would run: only the failed run.
	out, stderr, code = sweepCmd(t, "run", "-dry-run", "-root", root, spec)
	if code != 0 || out != "test ipo1 != ipo1 && touch "+root+"/loss=ipo/beta=0.5/seed=1/DONE\n" || stderr != "sweep: 1 of 4 runs to do\n" {
		t.Errorf("dry-run: exit %d, %q, %q", code, out, stderr)
	}
	// A fixed spec resumes: only run 2 runs, and the recorded spec is replaced with a warning.
	text2 := strings.Replace(text, "ipo1", "none", 1)
	os.WriteFile(spec, []byte(text2), 0o644)
	_, stderr, code = sweepCmd(t, "run", "-root", root, spec)
	if code != 0 || !strings.Contains(stderr, "warning: "+filepath.Join(root, "sweep.spec")+" differs") || !strings.Contains(stderr, "1/1 runs (0 failed)") {
		t.Errorf("resume: exit %d, stderr %q", code, stderr)
	}
	if log, _ := os.ReadFile(filepath.Join(root, "loss=dpo", "beta=0.1", "seed=1", "sweep.log")); len(log) != 0 {
		t.Errorf("a done run ran again: %q", log)
	}
	if copyText, _ := os.ReadFile(filepath.Join(root, "sweep.spec")); string(copyText) != text2 {
		t.Errorf("sweep.spec not replaced")
	}
}

// TestSlurm: the script is valid bash; with SLURM_ARRAY_TASK_ID=k it runs
// exactly run k, logging to its sweep.log; a done run is skipped; a run with
// the resume file runs the resume command.
func TestSlurm(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	spec, root := writeSpec(t, "axis task a b\naxis seed 1 2 3\ncmd echo ran {index} {task}; touch {dir}/ran\nresume CKPT touch {dir}/resumed\n")
	script, stderr, code := sweepCmd(t, "slurm", "-root", root, "-j", "2", "-time", "0:10:00", "-cpus", "2", "-mem", "1G", "-partition", "cpu", spec)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	for _, l := range []string{"#!/bin/bash\n", "#SBATCH --array=0-5%2\n", "#SBATCH --job-name=s\n", "#SBATCH --time=0:10:00\n",
		"#SBATCH --cpus-per-task=2\n", "#SBATCH --mem=1G\n", "#SBATCH --partition=cpu\n"} {
		if !strings.Contains(script, l) {
			t.Errorf("script lacks %q", l)
		}
	}
	path := filepath.Join(t.TempDir(), "job.sh")
	os.WriteFile(path, []byte(script), 0o755)
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	task := func(k string) error {
		c := exec.Command(bash, path)
		c.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+k)
		return c.Run()
	}
	dirs := []string{"task=a/seed=1", "task=a/seed=2", "task=a/seed=3", "task=b/seed=1", "task=b/seed=2", "task=b/seed=3"}
	if err := task("4"); err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		if exists(filepath.Join(root, d, "ran")) != (i == 4) {
			t.Errorf("after task 4, run %d ran: %v", i, !(i == 4))
		}
	}
	if log, _ := os.ReadFile(filepath.Join(root, dirs[4], "sweep.log")); string(log) != "ran 4 b\n" {
		t.Errorf("log %q", log)
	}
	// Done runs are skipped; resume files select the resume command.
	os.MkdirAll(filepath.Join(root, dirs[1]), 0o755)
	os.WriteFile(filepath.Join(root, dirs[1], "DONE"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, dirs[2]), 0o755)
	os.WriteFile(filepath.Join(root, dirs[2], "CKPT"), nil, 0o644)
	if task("1") != nil || task("2") != nil {
		t.Fatal("task failed")
	}
	if exists(filepath.Join(root, dirs[1], "ran")) || exists(filepath.Join(root, dirs[2], "ran")) || !exists(filepath.Join(root, dirs[2], "resumed")) {
		t.Errorf("done run ran, or resume not chosen")
	}
	if task("6") == nil || task("x") == nil {
		t.Errorf("an out-of-range task id succeeded")
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestSignalForwarded builds the command and sends SIGTERM to it while a run
// is inside its command: the run receives the signal (its trap records it),
// the second run never starts, and sweep exits 1 saying it was interrupted.
// The 3000-round loops only guard against hanging.
func TestSignalForwarded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "sweep")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spec, root := writeSpec(t, `axis seed 1 2
cmd trap 'echo got TERM > {dir}/signal; exit 5' TERM; touch {root}/ready; \
    k=0; while [ $k -lt 3000 ]; do k=$((k+1)); sleep 0.01; done; exit 7
`)
	var stderr bytes.Buffer
	c := exec.Command(bin, "run", "-q", "-root", root, spec)
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for k := 0; !exists(filepath.Join(root, "ready")); k++ {
		if k == 3000 {
			c.Process.Kill()
			t.Fatal("the first run never started")
		}
		exec.Command("sleep", "0.01").Run()
	}
	c.Process.Signal(syscall.SIGTERM)
	err := c.Wait()
	if code := c.ProcessState.ExitCode(); code != 1 || err == nil {
		t.Errorf("exit %d, want 1", code)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "seed=1", "signal")); string(got) != "got TERM\n" {
		t.Errorf("signal file %q", got)
	}
	if exists(filepath.Join(root, "seed=2")) {
		t.Errorf("the second run started after the signal")
	}
	want := "sweep: run 0 (seed=1): interrupted (exit 5), see " + filepath.Join(root, "seed=1", "sweep.log") + "\n" +
		"sweep: interrupted after 1 of 2 runs ended (0 failed); rerun to resume\n"
	if stderr.String() != want {
		t.Errorf("stderr\n%q\nwant\n%q", stderr.String(), want)
	}
}

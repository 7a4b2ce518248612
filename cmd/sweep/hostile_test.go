package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"entangle/pkg/cli"
)

// buildSweep builds the command once per test.
func buildSweep(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "sweep")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitFor polls for path (3000 rounds of 10 ms guard against hanging; this
// is not a timing assertion).
func waitFor(t *testing.T, path string) {
	t.Helper()
	for k := 0; !exists(path); k++ {
		if k == 3000 {
			t.Fatalf("%s never appeared", path)
		}
		exec.Command("sleep", "0.01").Run()
	}
}

// TestKill9NoRace: a sweep runner killed with SIGKILL leaves its command
// running (this one ignores SIGTERM, so the parent-death signal does not stop
// it); a rerun must not start a second command in the same directory while
// the first one still runs: it says so and waits for it. Once the orphan has
// finished (DONE), the rerun has nothing left to do and exits 0. The command
// ran exactly once.
func TestKill9NoRace(t *testing.T) {
	bin := buildSweep(t)
	spec, root := writeSpec(t, `axis seed 1
cmd trap '' TERM; echo start >> {root}/starts; touch {root}/ready; \
    k=0; while [ ! -e {root}/release ]; do k=$((k+1)); [ $k -lt 6000 ] || exit 7; sleep 0.01; done; \
    touch {dir}/DONE
`)
	c := exec.Command(bin, "run", "-q", "-root", root, spec)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(root, "ready"))
	c.Process.Kill() // SIGKILL: no chance to clean up
	c.Wait()
	rerun, stderr := startRunner(t, bin, root, spec)
	log := filepath.Join(root, "seed=1", "sweep.log")
	waitLine := "sweep: run 0 (seed=1): running in another process (" + log + " is locked); waiting for it\n"
	waitForText(t, stderr, waitLine)
	os.WriteFile(filepath.Join(root, "release"), nil, 0o644)
	err := rerun.Wait()
	got, _ := os.ReadFile(stderr)
	if err != nil || string(got) != waitLine+"sweep: run 0 (seed=1): done by the other process\n" {
		t.Errorf("rerun while the orphan runs: %v, stderr %q", err, got)
	}
	if starts, _ := os.ReadFile(filepath.Join(root, "starts")); string(starts) != "start\n" {
		t.Errorf("the command started %d times", strings.Count(string(starts), "start"))
	}
}

// TestTwoRunners: two "sweep run -j 1" of one spec at once share its runs:
// each runs one, the second waits for the first's and both exit 0 (a run another runner
// holds is not a failure); every command ran once.
func TestTwoRunners(t *testing.T) {
	bin := buildSweep(t)
	spec, root := writeSpec(t, `axis seed 1 2
cmd echo start >> {dir}/starts; touch {dir}/started; \
    k=0; while [ ! -e {root}/release ]; do k=$((k+1)); [ $k -lt 6000 ] || exit 7; sleep 0.01; done; \
    touch {dir}/DONE
`)
	a, errA := startRunner(t, bin, root, spec)
	waitFor(t, filepath.Join(root, "seed=1", "started"))
	b, errB := startRunner(t, bin, root, spec)
	waitFor(t, filepath.Join(root, "seed=2", "started"))
	waitForText(t, errB, "sweep: run 0 (seed=1): running in another process")
	os.WriteFile(filepath.Join(root, "release"), nil, 0o644)
	for k, c := range []*exec.Cmd{a, b} {
		err := c.Wait()
		got, _ := os.ReadFile([]string{errA, errB}[k])
		// b waited for run 0; a reaches run 1 when it may be done already
		if err != nil || k == 1 && !strings.HasSuffix(string(got), "waiting for it\nsweep: run 0 (seed=1): done by the other process\n") {
			t.Errorf("runner %d: %v, stderr %q", k, err, got)
		}
	}
	for _, seed := range []string{"seed=1", "seed=2"} {
		if starts, _ := os.ReadFile(filepath.Join(root, seed, "starts")); string(starts) != "start\n" || !exists(filepath.Join(root, seed, "DONE")) {
			t.Errorf("%s: started %d times", seed, strings.Count(string(starts), "start"))
		}
	}
}

// startRunner starts "sweep run -q" of spec with its stderr to a file.
func startRunner(t *testing.T, bin, root, spec string) (*exec.Cmd, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := exec.Command(bin, "run", "-q", "-root", root, spec)
	c.Stderr = f
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c, f.Name()
}

// waitForText polls file until it holds text (as waitFor).
func waitForText(t *testing.T, file, text string) {
	t.Helper()
	for k := 0; ; k++ {
		if b, _ := os.ReadFile(file); strings.Contains(string(b), text) {
			return
		}
		if k == 3000 {
			t.Fatalf("%s never held %q", file, text)
		}
		exec.Command("sleep", "0.01").Run()
	}
}

// TestKill9StopsCommand (Linux): a runner killed with SIGKILL takes its
// commands down: each command's shell gets SIGTERM (Pdeathsig), which train
// answers by checkpointing and stopping.
func TestKill9StopsCommand(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux's")
	}
	bin := buildSweep(t)
	spec, root := writeSpec(t, `axis seed 1
cmd exec bash -c 'trap "echo got TERM > $0/signal; exit 5" TERM; touch $0/../ready; k=0; while [ $k -lt 3000 ]; do k=$((k+1)); sleep 0.01; done' {dir}
`)
	c := exec.Command(bin, "run", "-q", "-root", root, spec)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(root, "ready"))
	c.Process.Kill()
	c.Wait()
	waitFor(t, filepath.Join(root, "seed=1", "signal"))
	if got, _ := os.ReadFile(filepath.Join(root, "seed=1", "signal")); string(got) != "got TERM\n" {
		t.Errorf("signal file %q", got)
	}
}

// TestListStreamsAndStops: list and expand of a 10^6-run grid stop at once
// on a cancelled context (^C), exit 1 saying so, and allocate far less than
// the grid would take in memory.
func TestListStreamsAndStops(t *testing.T) {
	var b strings.Builder
	for a := 0; a < 6; a++ {
		fmt.Fprintf(&b, "axis a%d 0 1 2 3 4 5 6 7 8 9\n", a)
	}
	b.WriteString("cmd echo {a0} {a1} {a2} {a3} {a4} {a5} > {dir}/out\n")
	spec, root := writeSpec(t, b.String())
	for _, sub := range [][]string{{"list"}, {"expand"}, {"run", "-dry-run"}, {"slurm"}} {
		// A writer that cancels the context after 1000 lines, as ^C would.
		ctx, cancel := context.WithCancelCause(context.Background())
		w := &cancelAfter{lines: 1000, cancel: cancel}
		var errb bytes.Buffer
		env := &cli.Env{Name: "sweep", Args: append(append([]string(nil), sub...), "-root", root, spec), Stdin: strings.NewReader(""), Stdout: w, Stderr: &errb}
		var code int
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		code = cli.Run(ctx, env, run)
		runtime.ReadMemStats(&ms1)
		if code != 1 || !strings.Contains(errb.String(), "sweep: interrupted (^C)") {
			t.Errorf("%v: exit %d, stderr %q", sub, code, errb.String())
		}
		if w.n > 200_000 {
			t.Errorf("%v: %d lines written after the cancel", sub, w.n)
		}
		if a := ms1.TotalAlloc - ms0.TotalAlloc; a > 200<<20 {
			t.Errorf("%v: allocated %d MB", sub, a>>20)
		}
	}
}

// cancelAfter counts lines written and cancels after a number of them.
type cancelAfter struct {
	lines, n int
	cancel   context.CancelCauseFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte("\n"))
	if c.n >= c.lines {
		c.cancel(errors.New("^C"))
	}
	return len(p), nil
}

// TestSlurmRecordsSpecAndLocks: an array task writes ROOT/sweep.spec (the
// spec byte for byte); a task whose run another process holds (its sweep.log
// locked) is not a failure: it says so, waits for the lock, and then exits 0
// without running the run if the holder finished it (DONE), or runs it — its
// resume command, the holder having left the resume file — if the holder
// died before. Each command ran once. (The tasks exited 1 at once before.)
func TestSlurmRecordsSpecAndLocks(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("no flock(1)")
	}
	text := "axis seed 1 2 3\ncmd echo ran {seed} >> {dir}/ran  # it's a 'quoted' $comment\nresume CKPT echo resumed >> {dir}/ran\n"
	spec, root := writeSpec(t, text)
	script, stderr, code := sweepCmd(t, "slurm", "-root", root, spec)
	if code != 0 {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "job.sh")
	os.WriteFile(path, []byte(script), 0o755)
	// task starts array task k with its stderr to a file.
	task := func(k string) (*exec.Cmd, string) {
		f, err := os.CreateTemp(t.TempDir(), "stderr")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c := exec.Command(bash, path)
		c.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+k)
		c.Stderr = f
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c, f.Name()
	}
	if c, errf := task("0"); c.Wait() != nil {
		out, _ := os.ReadFile(errf)
		t.Fatalf("task 0 failed: %s", out)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "sweep.spec")); string(got) != text {
		t.Errorf("sweep.spec %q, want %q", got, text)
	}
	// hold locks dir's sweep.log, as a live run would, until dir/release
	// appears; the holder then creates dir/DONE when finish is set.
	hold := func(dir string, finish bool) *exec.Cmd {
		os.MkdirAll(dir, 0o755)
		body := `k=0; while [ ! -e "$1"/release ]; do k=$((k+1)); [ $k -lt 6000 ] || exit 7; sleep 0.01; done`
		if finish {
			body += `; touch "$1"/DONE`
		}
		h := exec.Command(flock, filepath.Join(dir, "sweep.log"), bash, "-c", body, "hold", dir)
		h.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-h.Process.Pid, syscall.SIGKILL); h.Wait() })
		for k := 0; k < 3000; k++ { // until flock holds it
			if exec.Command(flock, "-n", filepath.Join(dir, "sweep.log"), "true").Run() != nil {
				return h
			}
			exec.Command("sleep", "0.01").Run()
		}
		t.Fatalf("%s never locked", dir)
		return nil
	}
	for k, finish := range []bool{true, false} {
		id := fmt.Sprint(k + 1)
		dir := filepath.Join(root, fmt.Sprintf("seed=%d", k+2))
		h := hold(dir, finish)
		c, errf := task(id)
		waitLine := "sweep: run " + id + " (" + dir + "): running in another process (" + dir + "/sweep.log is locked); waiting for it\n"
		waitForText(t, errf, waitLine)
		if exists(filepath.Join(dir, "ran")) {
			t.Errorf("task %s ran its run while it was locked", id)
		}
		if finish {
			os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
			h.Wait()
		} else { // the holder dies half-way, leaving a checkpoint
			os.WriteFile(filepath.Join(dir, "CKPT"), nil, 0o644)
			syscall.Kill(-h.Process.Pid, syscall.SIGKILL)
			h.Wait()
		}
		err := c.Wait()
		got, _ := os.ReadFile(errf)
		ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
		want, wantRan := waitLine+"sweep: run 1 ("+dir+"): done by the other process\n", ""
		if !finish {
			want, wantRan = waitLine, "resumed\n"
		}
		if err != nil || string(got) != want || string(ran) != wantRan {
			t.Errorf("task %s, holder finished %v: %v, stderr %q, ran %q; want stderr %q, ran %q", id, finish, err, got, ran, want, wantRan)
		}
	}
}

// TestListSIGINT: the built command listing a 10^6-run grid into a pipe
// stops on a real SIGINT with one line on stderr and exit 1, long before the
// end of the grid.
func TestListSIGINT(t *testing.T) {
	bin := buildSweep(t)
	var b strings.Builder
	for a := 0; a < 6; a++ {
		fmt.Fprintf(&b, "axis a%d 0 1 2 3 4 5 6 7 8 9\n", a)
	}
	b.WriteString("cmd true\n")
	spec, root := writeSpec(t, b.String())
	for _, sub := range []string{"list", "expand"} {
		c := exec.Command(bin, sub, "-root", root, spec)
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		c.Stderr = &errb
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		first := make([]byte, 4096)
		if _, err := io.ReadFull(out, first); err != nil {
			t.Fatal(err)
		}
		c.Process.Signal(os.Interrupt) // the command is blocked writing to the pipe, or about to be
		rest, _ := io.ReadAll(out)
		c.Wait()
		lines := bytes.Count(first, []byte("\n")) + bytes.Count(rest, []byte("\n"))
		if code := c.ProcessState.ExitCode(); code != 1 || errb.String() != "sweep: interrupted (interrupt signal received)\n" || lines > 100_000 {
			t.Errorf("%s: exit %d, stderr %q, %d lines", sub, code, errb.String(), lines)
		}
	}
}

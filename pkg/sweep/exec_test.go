package sweep

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// expandIn parses text and expands it under a fresh temporary root.
func expandIn(t *testing.T, text string) (string, *Spec, []Run) {
	t.Helper()
	root := t.TempDir()
	s := mustParse(t, text)
	runs, err := s.Expand(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, s, runs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestExecuteSkipFailResume: run 1 fails (its seed is 2) and the others go
// on; a second Execute skips the done runs and reruns only the failed one,
// appending to its log.
func TestExecuteSkipFailResume(t *testing.T) {
	_, s, runs := expandIn(t, "axis seed 1 2 3\ncmd echo run {index}; test {seed} != 2 && touch {dir}/DONE\n")
	var finished []int
	errs := map[int]error{}
	finish := func(r Run, err error) { finished = append(finished, r.Index); errs[r.Index] = err }
	sum, err := Execute(context.Background(), Runs(runs), s.ResumeIf, Options{Jobs: 1, Done: s.Done, Finish: finish})
	if err != nil {
		t.Fatal(err)
	}
	if len(finished) != 3 || sum != (Summary{Succeeded: 2, Failed: 1}) {
		t.Fatalf("finished %v, summary %+v", finished, sum)
	}
	for i := range runs {
		if (errs[i] != nil) != (i == 1) {
			t.Errorf("run %d: %v", i, errs[i])
		}
	}
	if ExitText(errs[1]) != "exit 1" {
		t.Errorf("ExitText %q", ExitText(errs[1]))
	}
	for i, r := range runs {
		if IsDone(r, s.Done) != (i != 1) {
			t.Errorf("run %d done: %v", i, IsDone(r, s.Done))
		}
		log, _ := os.ReadFile(filepath.Join(r.Dir, LogFile))
		if want := "run " + string(rune('0'+i)) + "\n"; string(log) != want {
			t.Errorf("run %d log %q, want %q", i, log, want)
		}
	}
	// Resume: only run 1 runs again.
	finished = nil
	sum, _ = Execute(context.Background(), SpecGrid(s, filepath.Dir(runs[0].Dir)), s.ResumeIf, Options{Jobs: 2, Done: s.Done, Finish: finish})
	if len(finished) != 1 || finished[0] != 1 || sum.Skipped != 2 || sum.Failed != 1 {
		t.Errorf("resume ran %v, summary %+v", finished, sum)
	}
	if log, _ := os.ReadFile(filepath.Join(runs[1].Dir, LogFile)); string(log) != "run 1\nrun 1\n" {
		t.Errorf("the log was not appended to: %q", log)
	}
	// Force reruns done runs, removing DONE first (so a failing rerun is not done).
	_, s2, runs2 := expandIn(t, "axis seed 1\ncmd exit 3\n")
	os.MkdirAll(runs2[0].Dir, 0o755)
	os.WriteFile(filepath.Join(runs2[0].Dir, "DONE"), nil, 0o644)
	errs = map[int]error{}
	sum, _ = Execute(context.Background(), Runs(runs2), "", Options{Jobs: 1, Force: true, Done: s2.Done, Finish: finish})
	if sum.Skipped != 0 || ExitText(errs[0]) != "exit 3" || IsDone(runs2[0], s2.Done) {
		t.Errorf("force: %+v %v, done %v", sum, errs[0], IsDone(runs2[0], s2.Done))
	}
}

// TestExecuteResumeCommand: a run whose directory holds the resume file runs
// the resume command instead.
func TestExecuteResumeCommand(t *testing.T) {
	_, s, runs := expandIn(t, "axis seed 1 2\ncmd echo fresh > {dir}/how\nresume CKPT echo resumed > {dir}/how\n")
	os.MkdirAll(runs[1].Dir, 0o755)
	os.WriteFile(filepath.Join(runs[1].Dir, "CKPT"), nil, 0o644)
	var resumed []bool
	if _, err := Execute(context.Background(), Runs(runs), s.ResumeIf, Options{Jobs: 1, Done: s.Done,
		Start: func(r Run, res bool) { resumed = append(resumed, res) }}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"fresh\n", "resumed\n"} {
		got, _ := os.ReadFile(filepath.Join(runs[i].Dir, "how"))
		if string(got) != want || resumed[i] != (i == 1) {
			t.Errorf("run %d: %q (resumed %v), want %q", i, got, resumed[i], want)
		}
	}
}

// TestExecuteParallel: with Jobs 2 the two runs of the first pair must be
// alive at the same time (each waits for the other's marker, so with one at
// a time the first would give up and fail), and no more than two runs are
// ever alive (each counts the live markers). The 3000-round wait is only a
// guard against hanging; it is not a timing assertion.
func TestExecuteParallel(t *testing.T) {
	_, s, runs := expandIn(t, `axis seed 0 1 2 3
cmd touch {root}/live.{index} {root}/started.{index}; \
    n=$(ls {root} | grep -c '^live'); [ $n -le 2 ] || { echo too many: $n; exit 9; }; \
    other=$(( {index} ^ 1 )); k=0; \
    while [ ! -e {root}/started.$other ]; do k=$((k+1)); [ $k -lt 3000 ] || exit 7; sleep 0.01; done; \
    rm {root}/live.{index}; touch {dir}/DONE
`)
	sum, err := Execute(context.Background(), Runs(runs), "", Options{Jobs: 2, Done: s.Done, Finish: func(r Run, err error) {
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(r.Dir, LogFile))
			t.Errorf("run %d: %s; log %q", r.Index, ExitText(err), log)
		}
	}})
	if err != nil || sum.Succeeded != 4 {
		t.Fatal(err, sum)
	}
}

// TestExecuteSignal: a forwarded signal reaches the running command (which
// traps it and records it), no further run starts, and Execute reports
// ErrInterrupted.
func TestExecuteSignal(t *testing.T) {
	root, s, runs := expandIn(t, `axis seed 1 2
cmd trap 'echo got TERM > {dir}/signal; exit 5' TERM; touch {root}/ready; \
    k=0; while [ $k -lt 3000 ]; do k=$((k+1)); sleep 0.01; done; exit 7
`)
	sigs := make(chan os.Signal, 1)
	started := 0
	var errs []error
	opt := Options{Jobs: 1, Done: s.Done, Signals: sigs, Shell: "bash",
		Start:  func(r Run, _ bool) { started++ },
		Finish: func(r Run, err error) { errs = append(errs, err) }}
	go func() {
		// Wait until the first run is inside its loop, then signal.
		for !exists(filepath.Join(root, "ready")) {
			syscall.Nanosleep(&syscall.Timespec{Nsec: 5e6}, nil)
		}
		sigs <- syscall.SIGTERM
	}()
	sum, err := Execute(context.Background(), Runs(runs), "", opt)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v", err)
	}
	if started != 1 || len(errs) != 1 || ExitText(errs[0]) != "interrupted (exit 5)" || !errors.Is(errs[0], ErrInterrupted) || sum.Stopped != 1 {
		t.Errorf("started %d, errors %v, summary %+v", started, errs, sum)
	}
	if got, _ := os.ReadFile(filepath.Join(runs[0].Dir, "signal")); string(got) != "got TERM\n" {
		t.Errorf("signal file %q", got)
	}
	// A cancelled context stops before anything starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	started = 0
	opt.Signals = nil
	if _, err := Execute(ctx, Runs(runs), "", opt); !errors.Is(err, ErrInterrupted) || started != 0 {
		t.Errorf("cancelled context: err %v, started %d", err, started)
	}
}

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
	res, err := Execute(context.Background(), runs, s.ResumeIf, Options{Jobs: 1, Done: s.Done,
		Finish: func(r Run, err error) { finished = append(finished, r.Index) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(finished) != 3 {
		t.Fatalf("finished %v", finished)
	}
	for i, r := range res {
		if (r.Err != nil) != (i == 1) || r.Skipped {
			t.Errorf("run %d: %+v", i, r)
		}
	}
	if ExitText(res[1].Err) != "exit 1" {
		t.Errorf("ExitText %q", ExitText(res[1].Err))
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
	res, _ = Execute(context.Background(), runs, s.ResumeIf, Options{Jobs: 2, Done: s.Done,
		Finish: func(r Run, err error) { finished = append(finished, r.Index) }})
	if len(finished) != 1 || finished[0] != 1 || !res[0].Skipped || !res[2].Skipped || res[1].Skipped {
		t.Errorf("resume ran %v, results %+v", finished, res)
	}
	if log, _ := os.ReadFile(filepath.Join(runs[1].Dir, LogFile)); string(log) != "run 1\nrun 1\n" {
		t.Errorf("the log was not appended to: %q", log)
	}
	// Force reruns done runs, removing DONE first (so a failing rerun is not done).
	_, s2, runs2 := expandIn(t, "axis seed 1\ncmd exit 3\n")
	os.MkdirAll(runs2[0].Dir, 0o755)
	os.WriteFile(filepath.Join(runs2[0].Dir, "DONE"), nil, 0o644)
	res, _ = Execute(context.Background(), runs2, "", Options{Jobs: 1, Force: true, Done: s2.Done})
	if res[0].Skipped || ExitText(res[0].Err) != "exit 3" || IsDone(runs2[0], s2.Done) {
		t.Errorf("force: %+v, done %v", res[0], IsDone(runs2[0], s2.Done))
	}
}

// TestExecuteResumeCommand: a run whose directory holds the resume file runs
// the resume command instead.
func TestExecuteResumeCommand(t *testing.T) {
	_, s, runs := expandIn(t, "axis seed 1 2\ncmd echo fresh > {dir}/how\nresume CKPT echo resumed > {dir}/how\n")
	os.MkdirAll(runs[1].Dir, 0o755)
	os.WriteFile(filepath.Join(runs[1].Dir, "CKPT"), nil, 0o644)
	var resumed []bool
	if _, err := Execute(context.Background(), runs, s.ResumeIf, Options{Jobs: 1, Done: s.Done,
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
	res, err := Execute(context.Background(), runs, "", Options{Jobs: 2, Done: s.Done})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			log, _ := os.ReadFile(filepath.Join(runs[i].Dir, LogFile))
			t.Errorf("run %d: %s; log %q", i, ExitText(r.Err), log)
		}
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
	opt := Options{Jobs: 1, Done: s.Done, Signals: sigs, Shell: "bash",
		Start: func(r Run, _ bool) { started++ }}
	go func() {
		// Wait until the first run is inside its loop, then signal.
		for !exists(filepath.Join(root, "ready")) {
			syscall.Nanosleep(&syscall.Timespec{Nsec: 5e6}, nil)
		}
		sigs <- syscall.SIGTERM
	}()
	res, err := Execute(context.Background(), runs, "", opt)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v", err)
	}
	if started != 1 || len(res) != 1 || ExitText(res[0].Err) != "interrupted (exit 5)" || !errors.Is(res[0].Err, ErrInterrupted) {
		t.Errorf("started %d, results %+v", started, res)
	}
	if got, _ := os.ReadFile(filepath.Join(runs[0].Dir, "signal")); string(got) != "got TERM\n" {
		t.Errorf("signal file %q", got)
	}
	// A cancelled context stops before anything starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	started = 0
	opt.Signals = nil
	if _, err := Execute(ctx, runs, "", opt); !errors.Is(err, ErrInterrupted) || started != 0 {
		t.Errorf("cancelled context: err %v, started %d", err, started)
	}
}

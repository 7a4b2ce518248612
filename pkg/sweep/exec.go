package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// ErrInterrupted is returned by Execute when it stopped early because of a
// signal or a cancelled context; the runs it had started were signalled and
// waited for.
var ErrInterrupted = errors.New("interrupted")

// IsDone reports whether run r is complete: its directory holds the done
// file.
func IsDone(r Run, doneFile string) bool {
	_, err := os.Stat(filepath.Join(r.Dir, doneFile))
	return err == nil
}

// Shell returns the shell that runs the commands: bash when it is on the
// PATH, else /bin/sh.
func Shell() string {
	if p, err := exec.LookPath("bash"); err == nil {
		return p
	}
	return "/bin/sh"
}

// Options controls Execute.
type Options struct {
	Jobs  int    // runs at once; at least 1
	Force bool   // rerun done runs (their done file is removed first)
	Done  string // done file, relative to the run directory
	Shell string // shell run as "Shell -c CMD"; "" is Shell()

	// Signals, when not nil, delivers signals to forward to every running
	// command's process group; after the first one Execute starts no new
	// run and waits for the running ones. A cancelled context acts as
	// SIGTERM.
	Signals <-chan os.Signal

	// Start, when not nil, is called (from Execute's goroutine) before run r
	// starts; resumed says that r's resume command was chosen.
	Start func(r Run, resumed bool)
	// Finish, when not nil, is called (from Execute's goroutine) when run r
	// has ended; err is nil on success, else an *exec.ExitError, the error
	// that prevented it from starting, or (for a run that failed after a
	// forwarded signal) an error that Is ErrInterrupted.
	Finish func(r Run, err error)
}

// Result is the outcome of one run in Execute.
type Result struct {
	Run     Run
	Skipped bool  // already done
	Err     error // nil when done or succeeded
}

// Execute runs every run that is not done (every run with opt.Force), at most
// opt.Jobs at once, in index order of starting. Each command runs as
// "shell -c CMD" in the caller's working directory, in its own process
// group, with standard input from /dev/null and its standard output and
// error appended to Dir/sweep.log (Dir is created first). A run whose
// directory holds the spec's resume file runs its resume command instead.
// A failed run does not stop the others. Results are in index order. The
// error is ErrInterrupted when a signal or the context stopped the sweep,
// else nil (failures are in the results).
func Execute(ctx context.Context, runs []Run, resumeIf string, opt Options) ([]Result, error) {
	if opt.Jobs < 1 {
		panic("sweep: Options.Jobs must be at least 1")
	}
	if opt.Done == "" {
		opt.Done = DefaultDone
	}
	if opt.Shell == "" {
		opt.Shell = Shell()
	}
	res := make([]Result, len(runs))
	type done struct {
		i   int
		err error
	}
	finished := make(chan done)
	var mu sync.Mutex
	running := map[int]*exec.Cmd{}
	var stopSig os.Signal
	stop := func(sig os.Signal) { // every signal is forwarded; the first stops new runs
		if stopSig == nil {
			stopSig = sig
		}
		mu.Lock()
		for _, c := range running {
			signalGroup(c, sig)
		}
		mu.Unlock()
	}
	start := func(i int) error {
		r := runs[i]
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return err
		}
		if opt.Force {
			if err := os.Remove(filepath.Join(r.Dir, opt.Done)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		cmdText, resumed := r.Cmd, false
		if resumeIf != "" && r.Resume != "" && !opt.Force {
			if _, err := os.Stat(filepath.Join(r.Dir, resumeIf)); err == nil {
				cmdText, resumed = r.Resume, true
			}
		}
		log, err := os.OpenFile(filepath.Join(r.Dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		c := exec.Command(opt.Shell, "-c", cmdText)
		c.Stdout, c.Stderr = log, log
		setGroup(c)
		if opt.Start != nil {
			opt.Start(r, resumed)
		}
		mu.Lock()
		err = c.Start()
		if err == nil {
			running[i] = c
		}
		mu.Unlock()
		if err != nil {
			log.Close()
			return err
		}
		go func() {
			err := c.Wait()
			log.Close()
			mu.Lock()
			delete(running, i)
			mu.Unlock()
			finished <- done{i, err}
		}()
		return nil
	}
	active, next := 0, 0
	ctxDone := ctx.Done()
	for {
		if stopSig == nil && ctx.Err() != nil {
			stop(sigTerm)
		}
		// Start runs while there is room and no stop was asked for.
		for stopSig == nil && active < opt.Jobs && next < len(runs) {
			i := next
			next++
			res[i].Run = runs[i]
			if !opt.Force && IsDone(runs[i], opt.Done) {
				res[i].Skipped = true
				continue
			}
			if err := start(i); err != nil {
				res[i].Err = err
				if opt.Finish != nil {
					opt.Finish(runs[i], err)
				}
				continue
			}
			active++
		}
		if active == 0 {
			break
		}
		select {
		case d := <-finished:
			active--
			if stopSig != nil && d.err != nil {
				d.err = &interruptedRun{d.err}
			}
			res[d.i].Err = d.err
			if opt.Finish != nil {
				opt.Finish(runs[d.i], d.err)
			}
		case sig := <-opt.Signals:
			stop(sig)
		case <-ctxDone:
			// The process's own signal handler may cancel ctx for the same
			// signal; forward that signal rather than SIGTERM when it is there.
			ctxDone = nil
			select {
			case sig := <-opt.Signals:
				stop(sig)
			default:
				stop(sigTerm)
			}
		}
	}
	if stopSig != nil {
		return res[:next], ErrInterrupted
	}
	if ctx.Err() != nil {
		return res[:next], ErrInterrupted
	}
	return res, nil
}

// interruptedRun is the error of a run that ended, unsuccessfully, after the
// sweep forwarded a signal to it.
type interruptedRun struct{ err error }

// Error says the run was interrupted and how it ended.
func (e *interruptedRun) Error() string { return "interrupted (" + ExitText(e.err) + ")" }

// Is makes errors.Is(err, ErrInterrupted) true.
func (e *interruptedRun) Is(target error) bool { return target == ErrInterrupted }

// Unwrap returns the run's own error (an *exec.ExitError).
func (e *interruptedRun) Unwrap() error { return e.err }

// ExitText describes how a run ended: "exit 1", "signal: terminated",
// "interrupted (exit 1)" or the error that kept it from starting.
func ExitText(err error) string {
	var ir *interruptedRun
	if errors.As(err, &ir) {
		return ir.Error()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return fmt.Sprintf("exit %d", ee.ExitCode())
		}
		return ee.String()
	}
	return err.Error()
}

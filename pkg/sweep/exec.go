package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
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

// Grid is what Execute runs: Len runs, each made on demand by Run (a
// million-run grid is never held in memory).
type Grid interface {
	Len() int
	Run(i int) (Run, error)
}

// SpecGrid is the grid of a spec under a root.
func SpecGrid(s *Spec, root string) Grid { return specGrid{s, root} }

type specGrid struct {
	s    *Spec
	root string
}

func (g specGrid) Len() int               { return g.s.Len() }
func (g specGrid) Run(i int) (Run, error) { return g.s.Run(g.root, i) }

// Runs is a grid of runs already expanded.
type Runs []Run

func (rs Runs) Len() int               { return len(rs) }
func (rs Runs) Run(i int) (Run, error) { return rs[i], nil }

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
	// has ended or could not start; err is nil on success, else an
	// *exec.ExitError, the error that prevented it from starting, or (for a
	// run that failed after a forwarded signal) an error that Is
	// ErrInterrupted.
	Finish func(r Run, err error)
	// Wait, when not nil, is called (from Execute's goroutine) when run r is
	// found locked by another process, which Execute then waits for; and
	// again with done true when the lock was released and r found done.
	Wait func(r Run, done bool)
	// Poll is how often the locks of the runs waited for are tried; 0 is
	// one second.
	Poll time.Duration
}

// Summary counts the outcomes of Execute's runs.
type Summary struct {
	Skipped   int // already done
	Succeeded int
	Failed    int // failed, or could not start
	Waited    int // found running in another process and waited for (then counted as Skipped, or run here)
	Stopped   int // ended unsuccessfully after a forwarded signal
}

// Execute runs every run of g that is not done (every run with opt.Force),
// at most opt.Jobs at once, in index order of starting. Each command runs as
// "shell -c CMD" in the caller's working directory, in its own process
// group, with standard input from /dev/null and its standard output and
// error appended to Dir/sweep.log (Dir is created first). A run whose
// directory holds the spec's resume file runs its resume command instead.
// A failed run does not stop the others.
//
// The open sweep.log carries an exclusive lock (flock) for as long as any
// process holds it: the runner while it waits, the command and its children,
// which inherit it as their output. A run whose log is locked — another
// runner's, or the command of a runner that was killed (kill -9) and left
// it running — is not a failure: Execute goes on with the other runs and
// waits for it (Wait; its lock is tried every Poll), and once the lock is
// free treats it as any run: done (the other process finished it: Skipped)
// or run here (it failed or was interrupted there: its resume command when
// it left the resume file). So two trains never write one directory, two
// runners on one spec share its runs, and whether a run is done and whether
// to resume it is decided only once the lock is held. A lock is never
// stale: it belongs to the open file, and the kernel releases it when the
// last process holding that file ends (also after kill -9), so there is no
// pid or host to check. On Linux each command's shell also gets SIGTERM if
// the runner dies (Pdeathsig).
//
// The error is ErrInterrupted when a signal or the context stopped the
// sweep (runs waited for are then left to their process), else nil
// (failures are in the summary and the Finish calls).
func Execute(ctx context.Context, g Grid, resumeIf string, opt Options) (Summary, error) {
	if opt.Jobs < 1 {
		panic("sweep: Options.Jobs must be at least 1")
	}
	if opt.Done == "" {
		opt.Done = DefaultDone
	}
	if opt.Shell == "" {
		opt.Shell = Shell()
	}
	var sum Summary
	type done struct {
		r   Run
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
	// start starts r; started is false for a run found done under its
	// lock, busy true (and started false) for a run another process holds.
	// A run waited for is done if the other process finished it, even
	// with Force.
	start := func(r Run, waited bool) (started, busy bool, err error) {
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return false, false, err
		}
		log, err := os.OpenFile(filepath.Join(r.Dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return false, false, err
		}
		locked, err := tryLock(log)
		if err != nil || !locked {
			log.Close()
			return false, err == nil, err
		}
		if (!opt.Force || waited) && IsDone(r, opt.Done) { // it ended while we looked
			log.Close()
			return false, false, nil
		}
		if opt.Force {
			if err := os.Remove(filepath.Join(r.Dir, opt.Done)); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Close()
				return false, false, err
			}
		}
		cmdText, resumed := r.Cmd, false
		if resumeIf != "" && r.Resume != "" && (!opt.Force || waited) {
			if _, err := os.Stat(filepath.Join(r.Dir, resumeIf)); err == nil {
				cmdText, resumed = r.Resume, true
			}
		}
		c := exec.Command(opt.Shell, "-c", cmdText)
		c.Stdout, c.Stderr = log, log // the child inherits the locked file
		setGroup(c)
		if opt.Start != nil {
			opt.Start(r, resumed)
		}
		mu.Lock()
		err = c.Start()
		if err == nil {
			running[r.Index] = c
		}
		mu.Unlock()
		if err != nil {
			log.Close()
			return false, false, err
		}
		go func() {
			err := c.Wait()
			log.Close()
			mu.Lock()
			delete(running, r.Index)
			mu.Unlock()
			finished <- done{r, err}
		}()
		return true, false, nil
	}
	n := g.Len()
	active, next := 0, 0
	// try starts r, or puts it on the waiting list if another process
	// holds it (first: it was not there yet).
	var waiting []Run
	try := func(r Run, first bool) {
		started, busy, err := start(r, !first)
		switch {
		case busy:
			if first {
				sum.Waited++
				if opt.Wait != nil {
					opt.Wait(r, false)
				}
			}
			waiting = append(waiting, r)
		case err != nil:
			sum.Failed++
			if opt.Finish != nil {
				opt.Finish(r, err)
			}
		case !started:
			sum.Skipped++
			if !first && opt.Wait != nil {
				opt.Wait(r, true)
			}
		default:
			active++
		}
	}
	poll := opt.Poll
	if poll <= 0 {
		poll = time.Second
	}
	var tick <-chan time.Time
	ctxDone := ctx.Done()
	for {
		// Start runs while there is room and no stop was asked for.
		for stopSig == nil && active < opt.Jobs && next < n {
			if ctx.Err() != nil {
				stop(sigTerm)
				break
			}
			r, err := g.Run(next)
			next++
			if err != nil {
				return sum, err
			}
			if !opt.Force && IsDone(r, opt.Done) {
				sum.Skipped++
				continue
			}
			try(r, true)
		}
		if stopSig != nil || ctx.Err() != nil {
			waiting = nil // left to the processes that run them
		}
		if active == 0 && len(waiting) == 0 {
			break
		}
		tick = nil
		if len(waiting) > 0 && active < opt.Jobs {
			tick = time.After(poll)
		}
		select {
		case <-tick:
			// Try the runs waited for, in index order, while there is room.
			w := waiting
			waiting = nil
			for k, r := range w {
				if active >= opt.Jobs || stopSig != nil {
					waiting = append(waiting, w[k:]...)
					break
				}
				try(r, false)
			}
		case d := <-finished:
			active--
			switch {
			case d.err != nil && stopSig != nil:
				d.err = &interruptedRun{d.err}
				sum.Stopped++
			case d.err != nil:
				sum.Failed++
			default:
				sum.Succeeded++
			}
			if opt.Finish != nil {
				opt.Finish(d.r, d.err)
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
	if stopSig != nil || ctx.Err() != nil {
		return sum, ErrInterrupted
	}
	return sum, nil
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

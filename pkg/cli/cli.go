package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0 // success, including -h
	ExitData  = 1 // runtime or data error
	ExitUsage = 2 // bad flag or argument
)

// Env is what a command sees of its process: arguments and the three streams.
type Env struct {
	Name   string    // program name used in messages, e.g. "prefgen"
	Args   []string  // arguments without the program name
	Stdin  io.Reader // standard input
	Stdout io.Writer // standard output: data only
	Stderr io.Writer // standard error: progress, warnings, the one error line
}

// RunFunc is the whole program of a command.
type RunFunc func(ctx context.Context, env *Env) error

// ErrHelp is returned by Parse when -h or -help was given; Run maps it to exit 0.
var ErrHelp = flag.ErrHelp

// UsageError is a bad flag, argument or flag value: exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// DataError is an error in the data at a position: "file:pos: msg", exit code 1.
// Pos is a line number, a record number ("record 12") or empty.
type DataError struct {
	File string
	Pos  string
	Err  error
}

func (e *DataError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *DataError) Unwrap() error { return e.Err }

// Dataf returns a *DataError at file and position pos.
func Dataf(file, pos, format string, args ...any) error {
	return &DataError{File: file, Pos: pos, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a RunFunc to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitData
	}
}

// Run calls run with env and prints a non-nil error as exactly one line
// "name: message" on env.Stderr. It returns the exit code.
func Run(ctx context.Context, env *Env, run RunFunc) int {
	err := run(ctx, env)
	code := ExitCode(err)
	if err != nil && code != ExitOK {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(env.Stderr, "%s: %s\n", env.Name, msg)
	}
	return code
}

// Main binds run to the process: os.Args, the standard streams, and a context
// cancelled on the first SIGINT or SIGTERM. The signal's default action is
// then restored, so that a second ^C ends a command that does not stop. It
// returns the exit code for os.Exit.
func Main(name string, run RunFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	env := &Env{Name: name, Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	return Run(ctx, env, run)
}

// ErrInterrupted is wrapped by Interrupted's error.
var ErrInterrupted = errors.New("interrupted")

// Interrupted returns nil while ctx is live, and once it is done an error
// wrapping ErrInterrupted that names the cause ("interrupted (interrupt
// signal received)"); Run prints it and exits 1. Every loop whose length
// depends on the input calls it once per item, or per batch of a few
// thousand cheap items:
//
//	for i := 0; i < n; i++ {
//		if err := cli.Interrupted(ctx); err != nil {
//			return err
//		}
//		...
//	}
func Interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return &interrupted{cause: context.Cause(ctx)}
}

type interrupted struct{ cause error }

func (e *interrupted) Error() string {
	if e.cause == nil || e.cause == context.Canceled {
		return "interrupted"
	}
	return "interrupted (" + e.cause.Error() + ")"
}

func (e *interrupted) Is(target error) bool { return target == ErrInterrupted }
func (e *interrupted) Unwrap() error        { return e.cause }

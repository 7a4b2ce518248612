package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InputName is the name used in messages for input name ("-" is <stdin>).
func InputName(name string) string {
	if name == "" || name == "-" {
		return "<stdin>"
	}
	return name
}

// OpenInput opens the named input; "" or "-" is env.Stdin (closing it is a no-op).
func OpenInput(env *Env, name string) (io.ReadCloser, error) {
	if name == "" || name == "-" {
		return io.NopCloser(env.Stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Output is a command's destination: standard output, or a file written under
// a temporary name in the same directory and renamed into place by Commit.
type Output struct {
	Name   string // the final name, or "-" for stdout
	w      *bufio.Writer
	f      *os.File // nil for stdout
	tmp    string
	stdout bool
	done   bool
}

// IsStdout reports whether the output is standard output.
func (o *Output) IsStdout() bool { return o.stdout }

// File returns the temporary file (for writers that need to seek, such as the
// Arrow IPC file writer), or nil for stdout. Writes through File bypass the
// buffer: use either File or Write, not both.
func (o *Output) File() *os.File { return o.f }

// Write writes p through a buffer.
func (o *Output) Write(p []byte) (int, error) { return o.w.Write(p) }

// CreateOutput opens the output named by path ("" or "-" is env.Stdout). When
// binary is true and standard output is a terminal, it refuses with a usage
// error rather than spray bytes on the screen.
func CreateOutput(env *Env, path string, binary bool) (*Output, error) {
	if path == "" || path == "-" {
		if binary && IsTerminal(env.Stdout) {
			return nil, Usagef("refusing to write binary output to a terminal; redirect stdout or use -o FILE")
		}
		return &Output{Name: "-", w: bufio.NewWriterSize(env.Stdout, 1<<16), stdout: true}, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("cannot create output: %w", err)
	}
	return &Output{Name: path, w: bufio.NewWriterSize(f, 1<<16), f: f, tmp: f.Name()}, nil
}

// Commit flushes the output; for a file it also syncs it and renames it to its
// final name. After Commit, Abort does nothing.
func (o *Output) Commit() error {
	if o.done {
		return nil
	}
	o.done = true
	if err := o.w.Flush(); err != nil {
		if o.f != nil {
			o.f.Close()
			os.Remove(o.tmp)
		}
		return fmt.Errorf("write %s: %w", InputName(o.Name), err)
	}
	if o.f == nil {
		return nil
	}
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(o.tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(o.tmp, o.Name)
	}
	if err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write %s: %w", o.Name, err)
	}
	return nil
}

// Abort discards a file output (its temporary file is removed); for stdout it
// flushes what was written. It is safe to call after Commit.
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	if o.f == nil {
		o.w.Flush()
		return
	}
	o.f.Close()
	os.Remove(o.tmp)
}

// WriteFileAtomic writes data to path through a temporary file, fsync and rename.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// ErrClosedPipe reports whether err is a broken pipe on stdout (e.g. "| head"),
// which commands treat as a normal end.
func ErrClosedPipe(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

// Flush flushes the output's buffer (for streams that consumers follow live).
func (o *Output) Flush() error { return o.w.Flush() }

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// How an Output reaches its destination.
const (
	toStdout  = iota // env.Stdout
	toAtomic         // a temporary file in the destination's directory, renamed by Commit
	toThrough        // a character device, FIFO or socket, written in place
)

// Output is a command's destination. Where it goes depends on what the path
// names:
//
//	"-" or ""                    standard output
//	a regular file, or nothing   a temporary file in the same directory, renamed
//	                             onto the path by Commit (nothing is replaced before)
//	a symbolic link              the same, onto the link's final target (the link stays)
//	a device, FIFO or socket     written in place (/dev/null, a named pipe)
//
// Errors name the path the user gave, never the temporary file.
type Output struct {
	Name   string // the path as given, or "-" for stdout
	kind   int
	target string      // the file renamed onto (the path, or its symlink target)
	mode   fs.FileMode // permissions given at Commit
	f      *os.File    // the temporary file, or the device (nil for stdout)
	tmp    string
	ew     *errWriter
	w      *bufio.Writer
	done   bool
}

// OutputError is an error creating, writing or committing an output, naming
// the user's path: "cannot create output out/x.arrow: no such file or
// directory", "write out.arrow: no space left on device".
type OutputError struct {
	Name   string // the output's name as given ("-" is <stdout>)
	Create bool   // the output could not be created
	Err    error  // the underlying error; an *os.PathError names the user's path, not the temporary file
}

func (e *OutputError) Error() string {
	n := e.Name
	if n == "" || n == "-" {
		n = "<stdout>"
	}
	msg := e.Err.Error()
	var pe *os.PathError
	if errors.As(e.Err, &pe) {
		msg = pe.Err.Error()
	}
	if e.Create {
		return "cannot create output " + n + ": " + msg
	}
	return "write " + n + ": " + msg
}

// createErr is outputErr for an output that could not be created.
func createErr(name string, err error) error {
	if err = outputErr(name, err); err != nil {
		if oe, ok := err.(*OutputError); ok {
			oe.Create = true
		}
	}
	return err
}

func (e *OutputError) Unwrap() error { return e.Err }

// outputErr wraps err as an *OutputError for name; the path of an
// *os.PathError or *os.LinkError (the temporary file) becomes name.
func outputErr(name string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OutputError
	if errors.As(err, &oe) {
		return err
	}
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = &os.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	case errors.As(err, &le):
		err = &os.PathError{Op: le.Op, Path: name, Err: le.Err}
	}
	return &OutputError{Name: name, Err: err}
}

// errWriter is the output's file as an io.WriteSeeker whose errors name the
// output; for outputs written in place (which cannot seek) it counts the
// bytes written, which is all Arrow's file writer asks of Seek.
type errWriter struct {
	name    string
	w       io.Writer
	f       *os.File // seekable file, or nil
	pos     int64
	err     error
	through bool
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.pos += int64(n)
	if err != nil {
		e.err = outputErr(e.name, err)
	}
	return n, e.err
}

func (e *errWriter) Seek(off int64, whence int) (int64, error) {
	if e.f != nil && !e.through {
		p, err := e.f.Seek(off, whence)
		return p, outputErr(e.name, err)
	}
	if off == 0 && whence == io.SeekCurrent {
		return e.pos, nil
	}
	return 0, &OutputError{Name: e.name, Err: errors.New("cannot seek: not a regular file")}
}

// IsStdout reports whether the output is standard output.
func (o *Output) IsStdout() bool { return o.kind == toStdout }

// File returns the output as an io.WriteSeeker for writers that need to know
// their position (the Arrow IPC file writer), or nil for stdout. Writes
// through File bypass the buffer: use either File or Write, not both. For a
// device or FIFO, Seek only reports the position (Seek(0, io.SeekCurrent)).
func (o *Output) File() io.WriteSeeker {
	if o.kind == toStdout {
		return nil
	}
	return o.ew
}

// Write writes p through a buffer.
func (o *Output) Write(p []byte) (int, error) { return o.w.Write(p) }

// Flush flushes the output's buffer (for streams that consumers follow live).
func (o *Output) Flush() error { return o.w.Flush() }

// CreateOutput opens the output named by path ("" or "-" is env.Stdout; see
// Output for the other cases) after the checks of CheckOutput. When binary is
// true and standard output is a terminal, it refuses with a usage error
// rather than spray bytes on the screen. inputs are the command's inputs: an
// output that is one of them is refused before anything is written.
// Nothing under the output's name changes before Commit.
func CreateOutput(env *Env, path string, binary bool, inputs ...string) (*Output, error) {
	if path == "" || path == "-" {
		if binary && IsTerminal(env.Stdout) {
			return nil, Usagef("refusing to write binary output to a terminal; redirect stdout or use -o FILE")
		}
		if err := CheckOutput(env, path, inputs...); err != nil {
			return nil, err
		}
		return &Output{Name: "-", kind: toStdout, w: bufio.NewWriterSize(env.Stdout, 1<<16)}, nil
	}
	if err := CheckOutput(env, path, inputs...); err != nil {
		return nil, err
	}
	target, fi, err := resolveOutput(path)
	if err != nil {
		return nil, createErr(path, err)
	}
	o := &Output{Name: path, target: target, mode: 0o644}
	if fi != nil && !fi.Mode().IsRegular() {
		// Write in place: a device (/dev/null, /dev/stdout) or a FIFO, whose
		// reader must see the bytes, not a file renamed over it.
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, createErr(path, err)
		}
		if binary && IsTerminal(f) {
			f.Close()
			return nil, Usagef("refusing to write binary output to a terminal (%s)", path)
		}
		o.kind, o.f = toThrough, f
		o.ew = &errWriter{name: path, w: f, f: f, through: true}
	} else {
		if fi != nil {
			o.mode = fi.Mode().Perm()
		}
		f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
		if err != nil {
			return nil, createErr(path, err)
		}
		o.kind, o.f, o.tmp = toAtomic, f, f.Name()
		o.ew = &errWriter{name: path, w: f, f: f}
	}
	o.w = bufio.NewWriterSize(o.ew, 1<<16)
	return o, nil
}

// CheckOutput runs CreateOutput's checks on path without creating or
// changing anything, so that a command can check all its outputs (and
// anything else) before it deletes or replaces a file: the path must not be
// a directory, its directory must exist, and it must not be one of inputs
// (the same file, or for a file that does not exist yet the same path; "-"
// among the inputs stands for standard input). For "-" (standard output), it
// refuses a regular file that is also an input ("prog in > in" has already
// emptied it).
func CheckOutput(env *Env, path string, inputs ...string) error {
	if path == "" || path == "-" {
		out, ok := env.Stdout.(*os.File)
		if !ok {
			return nil
		}
		ost, err := out.Stat()
		if err != nil || !ost.Mode().IsRegular() {
			return nil
		}
		for _, in := range inputs {
			if in == "" || in == "-" {
				continue
			}
			if ist, err := os.Stat(in); err == nil && os.SameFile(ost, ist) {
				return Usagef("standard output is the input %s (the shell has already emptied it)", in)
			}
		}
		return nil
	}
	target, fi, err := resolveOutput(path)
	if err != nil {
		return createErr(path, err)
	}
	if fi != nil && fi.IsDir() {
		return Usagef("output %s is a directory", path)
	}
	if fi == nil || fi.Mode().IsRegular() {
		d, err := os.Stat(filepath.Dir(target))
		switch {
		case err != nil:
			return createErr(path, err)
		case !d.IsDir():
			return createErr(path, fmt.Errorf("%s is not a directory", filepath.Dir(target)))
		}
		if err := writable(filepath.Dir(target)); err != nil {
			return createErr(path, fmt.Errorf("directory %s: %w", filepath.Dir(target), err))
		}
	} else if err := writable(target); err != nil {
		return createErr(path, err)
	}
	for _, in := range inputs {
		if SameFile(env, path, in) {
			return Usagef("output %s is also an input; write to another file", path)
		}
	}
	return nil
}

// SameFile reports whether output path and input in are the same file:
// os.SameFile when both exist (in "-" is standard input when it is a file),
// else the same absolute path once symbolic links are followed. Devices are
// never the same (reading /dev/zero and writing /dev/null are independent,
// and so are a terminal's input and output).
func SameFile(env *Env, path, in string) bool {
	ost, oerr := os.Stat(path)
	var ist fs.FileInfo
	var ierr error
	if in == "" || in == "-" {
		f, ok := env.Stdin.(*os.File)
		if !ok || oerr != nil {
			return false
		}
		ist, ierr = f.Stat()
	} else {
		ist, ierr = os.Stat(in)
	}
	if oerr == nil && ierr == nil {
		return os.SameFile(ost, ist) && ost.Mode()&os.ModeCharDevice == 0 && ost.Mode()&os.ModeDevice == 0
	}
	if in == "" || in == "-" {
		return false
	}
	t, _, err := resolveOutput(path)
	if err != nil {
		return false
	}
	return absPath(t) == absPath(in)
}

func absPath(p string) string {
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	if a, err := filepath.Abs(filepath.Join(dir, base)); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// resolveOutput follows path's symbolic links to the file they end at (which
// may not exist yet: a dangling link is written through) and returns it with
// its FileInfo, nil if it does not exist. Anything but a regular file is
// returned as path itself, for the kernel to follow when it is opened
// (/dev/stdout is a link to /proc/self/fd/1, whose target "pipe:[…]" is no
// path).
func resolveOutput(path string) (string, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return path, fi, nil
	case err == nil:
		t, err := filepath.EvalSymlinks(path)
		return t, fi, err
	case !errors.Is(err, fs.ErrNotExist):
		return "", nil, err
	}
	p := path
	for hops := 0; ; hops++ {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, fi, nil
		}
		if hops == 40 {
			return "", nil, fmt.Errorf("too many levels of symbolic links")
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
}

// Commit flushes the output; a file output is then synced, closed and
// renamed onto its target, a device or FIFO closed. After Commit, Abort does
// nothing. An error of an earlier write makes Commit fail (and discard a
// file output): a partial file never replaces the old one.
func (o *Output) Commit() error {
	if o.done {
		return nil
	}
	o.done = true
	err := o.w.Flush()
	if o.ew != nil && o.ew.err != nil {
		err = o.ew.err
	}
	switch o.kind {
	case toStdout:
		return outputErr(o.Name, err)
	case toThrough:
		if cerr := o.f.Close(); err == nil {
			err = cerr
		}
		return outputErr(o.Name, err)
	}
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(o.tmp, o.mode)
	}
	if err == nil {
		err = os.Rename(o.tmp, o.target)
	}
	if err != nil {
		os.Remove(o.tmp)
		return outputErr(o.Name, err)
	}
	return nil
}

// Abort discards a file output (its temporary file is removed and the old
// file, if any, stays); for stdout, a device or a FIFO it flushes what was
// written. It is safe to call after Commit.
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	switch o.kind {
	case toStdout:
		o.w.Flush()
	case toThrough:
		o.w.Flush()
		o.f.Close()
	default:
		o.f.Close()
		os.Remove(o.tmp)
	}
}

// Finish ends the output by the command's outcome: it commits when err is
// nil and aborts otherwise, returning err or the commit's error. Commands end
// with "return o.Finish(err)", so that a failed run never replaces a file.
func (o *Output) Finish(err error) error {
	if err != nil {
		o.Abort()
		return err
	}
	return o.Commit()
}

// WriteFileAtomic writes data to path as CreateOutput and Commit would: a
// regular file (or a symbolic link's target) through a temporary file, fsync
// and rename, keeping the permissions of the file it replaces (0644 for a
// new one); a device or FIFO in place. Errors name path.
func WriteFileAtomic(path string, data []byte) error {
	o, err := CreateOutput(&Env{Stdout: io.Discard}, path, false)
	if err != nil {
		return err
	}
	if _, err := o.ew.Write(data); err != nil {
		o.Abort()
		return err
	}
	return o.Commit()
}

// ErrClosedPipe reports whether err is a broken pipe on stdout (e.g. "| head"),
// which commands treat as a normal end.
func ErrClosedPipe(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

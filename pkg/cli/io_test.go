package cli

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
)

func testEnv() *Env {
	return &Env{Name: "prog", Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails if dir holds a temporary output file.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}

// TestOutputRegular: the old file stays until Commit, and stays when the
// command fails (Finish with an error, Abort); its permissions survive.
func TestOutputRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.arrow")
	os.WriteFile(p, []byte("old"), 0o600)
	for _, end := range []func(o *Output) error{
		func(o *Output) error { return o.Finish(errors.New("the command failed")) },
		func(o *Output) error { o.Abort(); return nil },
	} {
		o, err := CreateOutput(testEnv(), p, true)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(o, "new")
		o.Flush()
		if got := readFile(t, p); got != "old" {
			t.Fatalf("before the end: %q", got)
		}
		end(o)
		if got := readFile(t, p); got != "old" {
			t.Errorf("after a failure: %q, want the old content", got)
		}
		noTemps(t, dir)
	}
	o, _ := CreateOutput(testEnv(), p, true)
	io.WriteString(o, "new")
	if err := o.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "new" {
		t.Errorf("after Commit: %q", got)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the old file's 0600", st.Mode().Perm())
	}
	noTemps(t, dir)
}

// TestOutputSymlink: a symbolic link (relative, absolute, chained or
// dangling) keeps being a link; its final target gets the content.
func TestOutputSymlink(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	target := filepath.Join(dir, "data", "real.arrow")
	os.WriteFile(target, []byte("old"), 0o644)
	link := filepath.Join(dir, "link.arrow")
	os.Symlink("data/real.arrow", link)
	chain := filepath.Join(dir, "chain.arrow")
	os.Symlink(link, chain)
	dangling := filepath.Join(dir, "dangling.arrow")
	os.Symlink(filepath.Join(dir, "data", "new.arrow"), dangling)
	for _, tc := range []struct{ path, target string }{{link, target}, {chain, target}, {dangling, filepath.Join(dir, "data", "new.arrow")}} {
		o, err := CreateOutput(testEnv(), tc.path, false)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(o, "via "+filepath.Base(tc.path))
		if err := o.Commit(); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Lstat(tc.path); fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: no longer a symbolic link", tc.path)
		}
		if got := readFile(t, tc.target); got != "via "+filepath.Base(tc.path) {
			t.Errorf("%s: target holds %q", tc.path, got)
		}
		noTemps(t, dir)
		noTemps(t, filepath.Join(dir, "data"))
	}
	loop := filepath.Join(dir, "loop")
	os.Symlink(loop, loop)
	if _, err := CreateOutput(testEnv(), loop, false); err == nil || !strings.Contains(err.Error(), "cannot create output "+loop+": too many levels") {
		t.Errorf("symlink loop: %v", err)
	}
}

// TestOutputDevNull: -o /dev/null writes in place (as root a rename would
// replace the system's /dev/null), including through File for the Arrow file
// writer, which asks Seek for its position.
func TestOutputDevNull(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil {
		t.Skip("no /dev/null")
	}
	o, err := CreateOutput(testEnv(), os.DevNull, true)
	if err != nil {
		t.Fatal(err)
	}
	ws := o.File()
	ws.Write(make([]byte, 100))
	if pos, err := ws.Seek(0, io.SeekCurrent); pos != 100 || err != nil {
		t.Errorf("Seek = %d, %v; want 100", pos, err)
	}
	if _, err := ws.Seek(0, io.SeekStart); err == nil {
		t.Errorf("Seek to the start of /dev/null succeeded")
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(os.DevNull)
	if err != nil || !os.SameFile(before, after) || after.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null was replaced: %v %v", after.Mode(), err)
	}
	if err := WriteFileAtomic(os.DevNull, []byte("x")); err != nil {
		t.Errorf("WriteFileAtomic(/dev/null): %v", err)
	}
	if after, _ := os.Stat(os.DevNull); !os.SameFile(before, after) {
		t.Fatalf("WriteFileAtomic replaced /dev/null")
	}
}

// TestOutputProcFD (Linux): -o /proc/self/fd/N (what /dev/stdout links to)
// onto a pipe writes into the pipe; onto a regular file, replaces that file.
func TestOutputProcFD(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux's /proc")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := fmt.Sprintf("/proc/self/fd/%d", w.Fd())
	o, err := CreateOutput(testEnv(), p, true)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(o, "through the pipe")
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, _ := io.ReadAll(r); string(got) != "through the pipe" {
		t.Errorf("pipe got %q", got)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("old"), 0o644)
	f, _ := os.Open(file)
	defer f.Close()
	if err := WriteFileAtomic(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); got != "new" {
		t.Errorf("file got %q", got)
	}
}

// TestOutputFIFO: a named pipe is written in place; its reader gets every
// byte, whether the command commits or fails, and the FIFO stays a FIFO.
func TestOutputFIFO(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	for _, commit := range []bool{true, false} {
		p := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skip(err)
		}
		got := make(chan string)
		go func() {
			f, err := os.Open(p)
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(f)
			f.Close()
			got <- string(b)
		}()
		o, err := CreateOutput(testEnv(), p, false) // blocks until the reader opens it
		if err != nil {
			t.Fatal(err)
		}
		payload := strings.Repeat("0123456789", 20000) // more than a pipe holds
		io.WriteString(o, payload)
		if commit {
			err = o.Commit()
		} else {
			err = o.Finish(errors.New("failed"))
		}
		if r := <-got; r != payload {
			t.Errorf("commit %v: reader got %d bytes, want %d", commit, len(r), len(payload))
		}
		if commit && err != nil {
			t.Error(err)
		}
		if fi, _ := os.Lstat(p); fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("commit %v: the FIFO was replaced (%v)", commit, fi.Mode())
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestOutputErrorsNameThePath: a failing stdout, /dev/full, and a write
// error on the temporary file are reported under the user's name, and a
// file output with a failed write is not committed.
func TestOutputErrorsNameThePath(t *testing.T) {
	env := testEnv()
	env.Stdout = failWriter{}
	o, _ := CreateOutput(env, "-", false)
	io.WriteString(o, "x")
	if err := o.Commit(); err == nil || err.Error() != "write <stdout>: disk on fire" {
		t.Errorf("stdout: %v", err)
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		o, err := CreateOutput(testEnv(), "/dev/full", false)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(o, "x")
		if err := o.Commit(); err == nil || err.Error() != "write /dev/full: no space left on device" {
			t.Errorf("/dev/full: %v", err)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "out.tsv")
	os.WriteFile(p, []byte("old"), 0o644)
	o, err := CreateOutput(testEnv(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	o.f.Close() // the next write fails, as on a full disk
	_, werr := o.File().Write([]byte("new"))
	cerr := o.Commit()
	for _, err := range []error{werr, cerr} {
		if err == nil || strings.Contains(err.Error(), ".tmp") || !strings.HasPrefix(err.Error(), "write "+p+": ") {
			t.Errorf("error %v: want it to name %s and not the temporary file", err, p)
		}
	}
	if got := readFile(t, p); got != "old" {
		t.Errorf("a failed output replaced the file: %q", got)
	}
	noTemps(t, dir)
}

// TestOutputIsInput: an output that is one of the inputs is refused (exit 2)
// before anything is written: the same file, through a symbolic link, the
// same path not yet created, standard input redirected from it, and
// standard output redirected onto an input.
func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.arrow")
	os.WriteFile(in, []byte("data"), 0o644)
	link := filepath.Join(dir, "link.arrow")
	os.Symlink(in, link)
	other := filepath.Join(dir, "other.arrow")
	os.WriteFile(other, []byte("x"), 0o644)
	stdinFile, _ := os.Open(in)
	defer stdinFile.Close()
	cases := []struct {
		name, out string
		inputs    []string
		stdin     *os.File
		refuse    bool
	}{
		{"same file", in, []string{other, in}, nil, true},
		{"symlink to an input", link, []string{in}, nil, true},
		{"input through a symlink", in, []string{link}, nil, true},
		{"same new path", filepath.Join(dir, "new.arrow"), []string{filepath.Join(dir, ".", "new.arrow")}, nil, true},
		{"stdin is the output", in, []string{"-"}, stdinFile, true},
		{"different files", filepath.Join(dir, "out.arrow"), []string{in, other, "-"}, nil, false},
		{"/dev/null in and out", os.DevNull, []string{os.DevNull}, nil, false},
	}
	for _, tc := range cases {
		env := testEnv()
		if tc.stdin != nil {
			env.Stdin = tc.stdin
		}
		err := CheckOutput(env, tc.out, tc.inputs...)
		o, cerr := CreateOutput(env, tc.out, false, tc.inputs...)
		if tc.refuse {
			if ExitCode(err) != ExitUsage || ExitCode(cerr) != ExitUsage || !strings.Contains(err.Error(), "is also an input") {
				t.Errorf("%s: CheckOutput %v, CreateOutput %v; want a usage error", tc.name, err, cerr)
			}
			continue
		}
		if err != nil || cerr != nil {
			t.Errorf("%s: %v, %v", tc.name, err, cerr)
			continue
		}
		o.Abort()
	}
	if got := readFile(t, in); got != "data" {
		t.Errorf("the input changed: %q", got)
	}
	noTemps(t, dir)
	// stdout redirected onto an input ("prog in > in").
	f, _ := os.OpenFile(other, os.O_WRONLY, 0)
	defer f.Close()
	env := testEnv()
	env.Stdout = f
	if err := CheckOutput(env, "-", other); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "standard output is the input") {
		t.Errorf("stdout onto an input: %v", err)
	}
	if _, err := CreateOutput(env, "", false, other); ExitCode(err) != ExitUsage {
		t.Errorf("CreateOutput to stdout onto an input: %v", err)
	}
}

// TestOutputChecks: a directory, a missing directory, a file as directory.
func TestOutputChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct{ out, want string }{
		{dir, "is a directory"},
		{filepath.Join(dir, "nope", "out.arrow"), "cannot create output " + filepath.Join(dir, "nope", "out.arrow") + ": "},
		{filepath.Join(file, "out.arrow"), "not a directory"},
	} {
		if err := CheckOutput(testEnv(), tc.out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.out, err, tc.want)
		}
		if _, err := CreateOutput(testEnv(), tc.out, false); err == nil {
			t.Errorf("%s: created", tc.out)
		}
	}
}

// TestOutputReadOnlyDir: in a directory the process cannot write to,
// CheckOutput and CreateOutput fail naming the output, and nothing is
// created. As root (who may write anywhere) the test runs itself again as
// nobody.
func TestOutputReadOnlyDir(t *testing.T) {
	dir := os.Getenv("CLI_TEST_RODIR")
	if dir == "" {
		if runtime.GOOS == "windows" {
			t.Skip("no permissions")
		}
		base, err := os.MkdirTemp("", "cli-rodir")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		os.Chmod(base, 0o755)
		dir = filepath.Join(base, "ro")
		os.Mkdir(dir, 0o555)
		os.Chmod(dir, 0o555)
		if os.Geteuid() == 0 {
			// The test binary sits in a directory only root may enter.
			self, err := os.ReadFile(os.Args[0])
			if err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(base, "cli.test")
			if err := os.WriteFile(bin, self, 0o755); err != nil {
				t.Fatal(err)
			}
			c := exec.Command(bin, "-test.run=^TestOutputReadOnlyDir$", "-test.count=1")
			c.Env = append(os.Environ(), "CLI_TEST_RODIR="+dir)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := c.CombinedOutput()
			if err != nil {
				t.Fatalf("as nobody: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("PASS")) {
				t.Fatalf("as nobody:\n%s", out)
			}
			return
		}
	}
	p := filepath.Join(dir, "out.arrow")
	want := "cannot create output " + p + ": "
	if err := CheckOutput(testEnv(), p); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckOutput: %v", err)
	}
	if _, err := CreateOutput(testEnv(), p, true); err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("CreateOutput: %v", err)
	}
	if err := WriteFileAtomic(p, []byte("x")); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("WriteFileAtomic: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("created %v", ents)
	}
}

// TestIsTerminal: /dev/null (a character device), a pipe and a file are not
// terminals; a pseudo-terminal is; binary output to /dev/null is accepted.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	file, _ := os.Create(filepath.Join(t.TempDir(), "f"))
	defer file.Close()
	for _, f := range []*os.File{null, w, file} {
		if IsTerminal(f) {
			t.Errorf("%s is a terminal", f.Name())
		}
	}
	if IsTerminal(&bytes.Buffer{}) {
		t.Errorf("a buffer is a terminal")
	}
	env := testEnv()
	env.Stdout = null
	if o, err := CreateOutput(env, "-", true); err != nil {
		t.Errorf("binary output to /dev/null: %v", err)
	} else {
		o.Commit()
	}
	if runtime.GOOS == "linux" {
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			t.Skip(err)
		}
		defer ptmx.Close()
		if !IsTerminal(ptmx) {
			t.Errorf("/dev/ptmx is not a terminal")
		}
		env.Stdout = ptmx
		if _, err := CreateOutput(env, "-", true); ExitCode(err) != ExitUsage {
			t.Errorf("binary output to a terminal: %v", err)
		}
		if _, err := CreateOutput(env, "/dev/ptmx", true); ExitCode(err) != ExitUsage {
			t.Errorf("-o onto a terminal: %v", err)
		}
	}
}

// TestInterrupted: nil while live; after a cancellation with a cause, an
// error naming it that wraps ErrInterrupted and exits 1.
func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	if err := Interrupted(ctx); err != nil {
		t.Fatal(err)
	}
	cancel(errors.New("interrupt signal received"))
	err := Interrupted(ctx)
	if !errors.Is(err, ErrInterrupted) || err.Error() != "interrupted (interrupt signal received)" || ExitCode(err) != ExitData {
		t.Errorf("Interrupted = %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := Interrupted(ctx2); err == nil || err.Error() != "interrupted" {
		t.Errorf("plain cancel: %v", err)
	}
}

// Package atomicfile writes a file so that a reader sees the old file or the
// new one, never a part: the bytes go to a temporary file in the same
// directory (".NAME.tmp*"), which is synced, given mode 0644 and renamed over
// NAME. On any error the temporary file is removed and NAME is untouched.
//
// It is the one definition of the run files' atomic write (pkg/runfmt) and of
// the model directories' (pkg/hfmodel). User-named outputs on the command line
// go through pkg/cli instead, which keeps an existing file's mode and writes
// through devices such as /dev/stdout.
package atomicfile

import (
	"os"
	"path/filepath"
)

// TempPattern is the os.CreateTemp pattern of name's temporary file.
func TempPattern(name string) string { return "." + name + ".tmp*" }

// Write writes data to path atomically (see the package comment).
func Write(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), TempPattern(filepath.Base(path)))
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

//go:build !unix

package cli

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a character device other than the null
// device (where there is no terminal ioctl to ask).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

// writable is left to the creation of the file.
func writable(string) error { return nil }

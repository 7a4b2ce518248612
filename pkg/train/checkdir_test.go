package train

import (
	"entangle/pkg/runfmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckDirSweepLog: a directory holding only a sweep runner's log can
// take a new run; any other file needs -force.
func TestCheckDirSweepLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, runfmt.SweepLog), []byte("started\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(dir, false); err != nil {
		t.Errorf("only %s: %v", runfmt.SweepLog, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "DONE"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(dir, false); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("with DONE: %v, want a not-empty error", err)
	}
	if err := CheckDir(dir, true); err != nil {
		t.Errorf("with -force: %v", err)
	}
}

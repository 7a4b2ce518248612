// Package torchtest is what the PyTorch oracle tests share: the interpreter
// that has Debian's python3-torch, the skip-or-fail rule when it is missing,
// running an oracle script, and the relative error and tolerances with which
// a Go result is compared to the oracle's.
//
// The oracles themselves are scripts/torch/*.py, written from the reference
// semantics (transformers' modeling files, peft's LoRA) and run by the tests
// of pkg/model, pkg/hfmodel and pkg/pref.
package torchtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Python is the interpreter with torch: Debian's python3-torch installs into
// the system Python, which need not be the python3 first on PATH.
const Python = "/usr/bin/python3"

const (
	// Tol32 bounds ‖go − torch‖/‖torch‖ per tensor when both sides run in
	// float32. Each side has rounding error of a few float32 ulps (6e-8)
	// amplified by the depth and the reductions of a model; observed
	// differences are ~1e-6 at tiny shapes and ≤ 1e-5 at 124M-160M, so 1e-4
	// leaves room for BLAS summation order. Structural mismatches tried on
	// the PyTorch side (exact instead of tanh GELU, attention scale 1/√C
	// instead of 1/√d, a transposed Conv1D) give 1e-4 to 1e-2 in float32
	// and ≥ 1e-8 in float64, hence the float64 runs too.
	Tol32 = 1e-4
	// Tol64 is the same bound in float64: rounding is ~1e-16 per operation,
	// so 1e-9 leaves six orders of magnitude for summation order and
	// conditioning while any semantic difference shows.
	Tol64 = 1e-9
)

// Require skips the test when Python cannot import torch and numpy, or fails
// it under CI=true (where scripts/setup.sh installs them).
func Require(t testing.TB) {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import torch, numpy").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s cannot import torch (%v: %s); run scripts/setup.sh to install python3-torch",
		Python, err, lastLine(string(out)))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Tiny is the timeout of an oracle at tiny shapes: about 20 s on a quiet
// 2-core machine, but minutes when other jobs load it (the oracles were
// killed at 2 minutes with a load average of 20), so it is generous; a hung
// interpreter still fails the test long before go test's own limit.
const Tiny = 6 * time.Minute

// Run runs Python script with args, killed after timeout, and returns its
// standard output; on failure the test fails with the script's stderr.
func Run(t testing.TB, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, Python, append([]string{script}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(script), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// RelErr returns ‖a − b‖/‖b‖ (Euclidean norms accumulated in float64), or
// ‖a − b‖ when b is zero, and +Inf when the lengths differ.
func RelErr[F ~float32 | ~float64](a []F, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range a {
		e := float64(a[i]) - b[i]
		d += e * e
		n += b[i] * b[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

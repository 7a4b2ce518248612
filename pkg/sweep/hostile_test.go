package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// axes returns k axis lines of v values each.
func axes(k, v int) string {
	var b strings.Builder
	for a := 0; a < k; a++ {
		fmt.Fprintf(&b, "axis a%d", a)
		for i := 0; i < v; i++ {
			fmt.Fprintf(&b, " %d", i)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestGridLimit: grids above MaxRuns (10^7, 3^41, 2^64 — which overflowed
// to 0 runs before) are spec errors at the axis that passes the limit; a
// grid of exactly MaxRuns is fine and Run decodes its last index.
func TestGridLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		line int
	}{
		{"10^7", axes(7, 10), 7},
		{"3^41", axes(41, 3), 13}, // 3^12 = 531441, 3^13 > 10^6
		{"2^64", axes(64, 2), 20}, // 2^20 = 1048576
		{"one axis of 10^6+1", "axis seed" + strings.Repeat(" x", 1) + func() string {
			var b strings.Builder
			for i := 0; i < MaxRuns; i++ {
				fmt.Fprintf(&b, " %d", i)
			}
			return b.String()
		}() + "\n", 1},
	} {
		_, err := Parse("t.sweep", strings.NewReader(tc.text+"cmd true\n"))
		var se *SpecError
		if !errors.As(err, &se) || se.Line != tc.line || !strings.Contains(err.Error(), "more than 1000000 runs") {
			t.Errorf("%s: %v, want a spec error on line %d", tc.name, err, tc.line)
		}
	}
	s := mustParse(t, axes(6, 10)+"cmd echo {a0}{a1}{a2}{a3}{a4}{a5} {index}\n")
	if s.Len() != MaxRuns {
		t.Fatalf("Len %d", s.Len())
	}
	r, err := s.Run("root", MaxRuns-1)
	if err != nil || r.Cmd != "echo 999999 999999" || r.Dir != "root/a0=9/a1=9/a2=9/a3=9/a4=9/a5=9" {
		t.Errorf("last run: %+v, %v", r, err)
	}
	r, _ = s.Run("root", 123456)
	if r.Cmd != "echo 123456 123456" {
		t.Errorf("run 123456: %q", r.Cmd)
	}
	// A hand-built spec whose product overflows reports MaxRuns+1.
	big := &Spec{Cmd: "true"}
	for i := 0; i < 64; i++ {
		big.Axes = append(big.Axes, Axis{Keys: []string{fmt.Sprint("k", i)}, Values: [][]string{{"0"}, {"1"}}})
	}
	if big.Len() != MaxRuns+1 {
		t.Errorf("Len of 2^64 = %d", big.Len())
	}
	if _, err := big.Expand("r"); err == nil {
		t.Errorf("Expand of 2^64 runs succeeded")
	}
}

// TestSpecMessages: whole-spec errors name no line 0; long lines are fine
// and errors on them name their line; a NUL byte and a spec over
// MaxSpecBytes are refused.
func TestSpecMessages(t *testing.T) {
	long := "axis seed" + strings.Repeat(" 1234567", 300_000) // a 2.4 MB line
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "t.sweep: empty spec (it needs at least a cmd line)"},
		{"comments only", "# nothing\n\n   # here\n", "t.sweep: empty spec (it needs at least a cmd line)"},
		{"no cmd", "axis a 1\n", "t.sweep:1: missing cmd line"},
		{"2.4 MB line with a duplicate", "root r\n" + long + "\ncmd true\n", `t.sweep:2: axis seed: duplicate value "1234567"`},
		{"2 MB cmd line then an error", "cmd echo " + strings.Repeat("x", 2<<20) + "\nbogus\n", `t.sweep:2: unknown directive "bogus"`},
		{"NUL", "axis a 1\ncmd echo \x00\n", "t.sweep:2: NUL byte in the spec"},
		{"17 MiB", "cmd true # " + strings.Repeat("x", 17<<20), "t.sweep: larger than 16 MiB"},
	} {
		_, err := Parse("t.sweep", strings.NewReader(tc.text))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "token too long") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	s := mustParse(t, "root r\naxis seed"+strings.Repeat(" 1", 1)+strings.Repeat(" x", 0)+func() string {
		var b strings.Builder
		for i := 2; i < 250_000; i++ { // a 1.6 MB line
			fmt.Fprintf(&b, " %d", i)
		}
		return b.String()
	}()+"\ncmd true\n")
	if s.Len() != 249_999 {
		t.Errorf("long axis: %d runs", s.Len())
	}
}

// TestExecuteLocked: a run whose sweep.log another open file has locked
// (another runner's run) is not a failure: the other runs run, Execute
// waits for it (Wait), and once the lock is released it is skipped if the
// other process finished it, else run here — the exit of a second runner
// on one spec reflects only real failures.
func TestExecuteLocked(t *testing.T) {
	for _, finish := range []bool{true, false} {
		_, s, runs := expandIn(t, "axis seed 1 2\ncmd echo ran >> {dir}/ran; touch {dir}/DONE\n")
		os.MkdirAll(runs[0].Dir, 0o755)
		holder, err := os.OpenFile(filepath.Join(runs[0].Dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := tryLock(holder); !ok || err != nil {
			t.Skip("no flock here", err)
		}
		var waits []string
		var failed []error
		sum, err := Execute(context.Background(), Runs(runs), "", Options{Jobs: 2, Done: s.Done, Poll: time.Millisecond,
			Finish: func(r Run, err error) {
				if err != nil {
					failed = append(failed, err)
				}
			},
			Wait: func(r Run, done bool) {
				waits = append(waits, fmt.Sprintf("%d %v", r.Index, done))
				if !done { // the other process ends (having finished the run or not) and releases its lock
					if finish {
						os.WriteFile(filepath.Join(r.Dir, s.Done), nil, 0o644)
					}
					holder.Close()
				}
			}})
		ranHere := exists(filepath.Join(runs[0].Dir, "ran"))
		if finish {
			if err != nil || sum.Waited != 1 || sum.Succeeded != 1 || sum.Skipped != 1 || sum.Failed != 0 || len(failed) != 0 || ranHere ||
				!slices.Equal(waits, []string{"0 false", "0 true"}) {
				t.Errorf("run 0 finished by the lock's holder: %+v, %v, waits %q, failed %v, ran here %v", sum, err, waits, failed, ranHere)
			}
		} else if err != nil || sum.Waited != 1 || sum.Succeeded != 2 || sum.Failed != 0 || !ranHere || !slices.Equal(waits, []string{"0 false"}) {
			t.Errorf("run 0 left undone by the lock's holder: %+v, %v, waits %q, ran here %v", sum, err, waits, ranHere)
		}
	}
}

// TestExecuteCancelledWhileSkipping: a cancelled context stops Execute even
// when every run is done (the loop that skips them checks it).
func TestExecuteCancelledWhileSkipping(t *testing.T) {
	s := mustParse(t, axes(2, 300)+"done .\ncmd true\n") // "." always exists: 90000 done runs
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Execute(ctx, SpecGrid(s, t.TempDir()), "", Options{Jobs: 1, Done: s.Done})
	if !errors.Is(err, ErrInterrupted) || sum.Skipped != 0 {
		t.Errorf("%+v, %v", sum, err)
	}
}

// FuzzParse: any bytes parse or fail with an error; an accepted spec has at
// most MaxRuns runs, and its first and last runs have one directory level
// per axis key.
func FuzzParse(f *testing.F) {
	f.Add([]byte("root r\naxis loss,beta dpo,0.1 ipo,0.5\naxis seed 1 2\nset lr 1e-4\ncmd train -loss {loss} -out {dir} # c\nresume CKPT train -resume {dir}\n"))
	f.Add([]byte("cmd echo {{seed} ${HOME} { a; } \\\n  more\n"))
	f.Add([]byte(axes(3, 3) + "cmd true\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		s, err := Parse("fuzz", strings.NewReader(string(in)))
		if err != nil {
			if strings.Contains(err.Error(), "fuzz:0:") {
				t.Fatalf("line 0 in %q", err)
			}
			return
		}
		n := s.Len()
		if n < 1 || n > MaxRuns {
			t.Fatalf("Len %d", n)
		}
		for _, i := range []int{0, n - 1} {
			r, err := s.Run("root", i)
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			if len(r.Params) != len(s.Keys()) || strings.Count(r.Dir, "/") != len(r.Params) {
				t.Fatalf("run %d: dir %q for %d keys", i, r.Dir, len(s.Keys()))
			}
		}
	})
}

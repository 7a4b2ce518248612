package sweep

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *Spec {
	t.Helper()
	s, err := Parse("t.sweep", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExpandOrder checks a 2 × linked-2 × 2 grid against a hand-written list:
// first axis slowest, linked keys moving together and each getting its own
// directory level, set keys substituted but not in the directory.
func TestExpandOrder(t *testing.T) {
	s := mustParse(t, `# comment line

axis task  1t disjoint
axis loss,beta  dpo,0.1  ipo,0.5   # linked
axis seed 1 2
set lr 1e-4
cmd  train -loss {loss} -beta {beta} \
     -lr {lr} -seed {seed} -out {dir} data/{task}.arrow # run {index}
`)
	runs, err := s.Expand("sw")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sw/task=1t/loss=dpo/beta=0.1/seed=1",
		"sw/task=1t/loss=dpo/beta=0.1/seed=2",
		"sw/task=1t/loss=ipo/beta=0.5/seed=1",
		"sw/task=1t/loss=ipo/beta=0.5/seed=2",
		"sw/task=disjoint/loss=dpo/beta=0.1/seed=1",
		"sw/task=disjoint/loss=dpo/beta=0.1/seed=2",
		"sw/task=disjoint/loss=ipo/beta=0.5/seed=1",
		"sw/task=disjoint/loss=ipo/beta=0.5/seed=2",
	}
	if s.Len() != len(want) || len(runs) != len(want) {
		t.Fatalf("Len %d, %d runs, want %d", s.Len(), len(runs), len(want))
	}
	for i, r := range runs {
		if r.Index != i || r.Dir != want[i] {
			t.Errorf("run %d: index %d dir %q, want %q", i, r.Index, r.Dir, want[i])
		}
		if r.Name() != strings.TrimPrefix(want[i], "sw/") {
			t.Errorf("run %d: Name %q", i, r.Name())
		}
	}
	if got := s.Keys(); !reflect.DeepEqual(got, []string{"task", "loss", "beta", "seed"}) {
		t.Errorf("Keys %v", got)
	}
	// The continuation joins lines with one space; the trailing comment is gone.
	wantCmd := "train -loss ipo -beta 0.5 -lr 1e-4 -seed 2 -out sw/task=disjoint/loss=ipo/beta=0.5/seed=2 data/disjoint.arrow"
	if runs[7].Cmd != wantCmd {
		t.Errorf("cmd\n got %q\nwant %q", runs[7].Cmd, wantCmd)
	}
	if s.Done != DefaultDone || s.Root != "" {
		t.Errorf("Done %q Root %q", s.Done, s.Root)
	}
}

// TestSubstitution covers {index}, {root}, quoting of a root with a space,
// braces left to the shell, the {{ escape and a spec without axes (one run in the root).
func TestSubstitution(t *testing.T) {
	s := mustParse(t, "root r\ndone FIN\nset x a$b\ncmd echo {index} {root} {dir} {x} ${HOME} {{x} {a,b} { :; }\n")
	runs, err := s.Expand("my root")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Dir != "my root" {
		t.Fatalf("runs %+v", runs)
	}
	want := `echo 0 'my root' 'my root' 'a$b' ${HOME} {x} {a,b} { :; }`
	if runs[0].Cmd != want {
		t.Errorf("got %q, want %q", runs[0].Cmd, want)
	}
	if s.Root != "r" || s.Done != "FIN" {
		t.Errorf("Root %q Done %q", s.Root, s.Done)
	}
}

// TestQuoteThroughShell checks that the shell turns Quote(s) back into s.
func TestQuoteThroughShell(t *testing.T) {
	in := []string{"plain-1.0", "", "a b", "it's", `"$HOME"`, "`x`", "a\\b", "*", "~", "x;y|z&", "'", "é ü", "a\nb"}
	var script strings.Builder
	for _, s := range in {
		script.WriteString("printf '%s\\0' " + Quote(s) + "\n")
	}
	out, err := exec.Command("/bin/sh", "-c", script.String()).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, in) {
		t.Errorf("shell read back %q, want %q", got, in)
	}
	if Quote("plain-1.0") != "plain-1.0" {
		t.Errorf("a safe word was quoted: %s", Quote("plain-1.0"))
	}
}

// TestSpecErrors checks that every kind of spec error names its line.
func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		msg  string
	}{
		{"axis a 1\naxis a 2\ncmd x\n", 2, `duplicate key "a" (first defined on line 1)`},
		{"axis a 1\nset a 2\ncmd x\n", 2, `duplicate key "a"`},
		{"axis a,b 1,2\naxis b 3\ncmd x\n", 2, `duplicate key "b"`},
		{"# c\naxis seed\ncmd x\n", 2, "empty axis seed"},
		{"axis\ncmd x\n", 1, "axis line without a key"},
		{"axis seed 1 x/y\ncmd x\n", 1, `value "x/y" contains`},
		{"axis seed 1 a=b\ncmd x\n", 1, `value "a=b" contains`},
		{"axis seed 1 ..\ncmd x\n", 1, "not a directory name"},
		{"axis seed 1 1\ncmd x\n", 1, `duplicate value "1"`},
		{"\n\naxis loss,beta dpo,0.1 ipo\ncmd x\n", 3, `value "ipo" has 1 parts, want 2`},
		{"axis loss,beta dpo,0.1 ipo,0.5,1\ncmd x\n", 1, "has 3 parts, want 2"},
		{"axis loss,beta dpo,\ncmd x\n", 1, "empty value"},
		{"axis a.b 1\ncmd x\n", 1, `bad key "a.b"`},
		{"axis dir 1\ncmd x\n", 1, `key "dir" is reserved`},
		{"set lr\ncmd x\n", 1, "set wants a key and one value"},
		{"axis a 1\n# no command\n\n", 3, "missing cmd line"},
		{"axis a 1\ncmd x\ncmd y\n", 3, "second cmd line (first on line 2)"},
		{"root a\nroot b\ncmd x\n", 2, "second root line"},
		{"done /abs/DONE\ncmd x\n", 1, "must be a relative path"},
		{"axis a 1\nfoo bar\ncmd x\n", 2, `unknown directive "foo"`},
		{"axis a 1\ncmd x \\\n  {b}\n", 2, "unknown placeholder {b}"},
		{"set a 1\ncmd echo {a} {b} {a}\n", 2, "unknown placeholder {b}"},
		{"cmd x\nresume CKPT echo {nope}\n", 2, "unknown placeholder {nope}"},
		{"cmd x\nresume CKPT\n", 2, "resume wants a file and a command"},
	} {
		_, err := Parse("t.sweep", strings.NewReader(tc.text))
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SpecError", tc.text, err)
			continue
		}
		if se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) || !strings.HasPrefix(err.Error(), "t.sweep:") {
			t.Errorf("%q: got %q (line %d), want line %d and %q", tc.text, err, se.Line, tc.line, tc.msg)
		}
	}
}

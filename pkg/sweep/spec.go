package sweep

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"entangle/pkg/runfmt"
)

// DefaultDone is the file whose presence in a run directory marks the run
// complete when the spec has no "done" line (train writes it last).
const DefaultDone = "DONE"

// LogFile is the name, inside each run directory, of the file that receives
// the run's standard output and standard error.
const LogFile = "sweep.log"

// SpecFile is the name, inside the sweep root, of the copy of the spec that
// makes a sweep directory describe itself.
const SpecFile = "sweep.spec"

// reserved are the placeholders the sweep defines itself; keys may not use them.
var reserved = map[string]bool{"dir": true, "root": true, "index": true}

// Axis is one "axis" line: the keys it sets (more than one for a linked
// axis, whose values move together) and its value tuples, each with one
// value per key.
type Axis struct {
	Keys   []string   // axis keys, in the order written
	Values [][]string // Values[v][k] is the value of Keys[k] in tuple v
	Line   int        // line number of the axis line
}

// Param is one key=value setting of a run.
type Param struct {
	Key, Value string
}

// Spec is a parsed sweep spec.
type Spec struct {
	File       string  // name used in error messages
	Text       []byte  // the spec as read, for the copy in the sweep root
	Root       string  // the "root" line's directory; "" if none
	Axes       []Axis  // axes in file order (first axis slowest)
	Sets       []Param // constants from "set" lines
	Done       string  // completion marker, relative to the run directory
	Cmd        string  // command template (continuation lines joined)
	ResumeIf   string  // "resume" line: file whose presence selects Resume; "" if none
	Resume     string  // command template for a run that left ResumeIf behind
	CmdLine    int     // line number of the cmd line
	ResumeLine int     // line number of the resume line, 0 if none
}

// Run is one expanded run.
type Run struct {
	Index  int     // 0-based position in the grid
	Params []Param // the axis settings, in axis-key order
	Dir    string  // {root}/key=value/...
	Cmd    string  // the command with every placeholder substituted (shell-quoted)
	Resume string  // the resume command, "" if the spec has none
}

// Name is the run's directory relative to the root, e.g.
// "task=1t/loss=dpo/beta=0.1/seed=1": its label (runfmt.Label), the name
// gradstat and plot give the run.
func (r Run) Name() string {
	parts := make([]string, len(r.Params))
	for i, p := range r.Params {
		parts[i] = p.Key + "=" + p.Value
	}
	return runfmt.Label(parts)
}

// SpecError is an error in a spec, located by file and line.
type SpecError struct {
	File string // the spec's name as given to Parse
	Line int    // 1-based line; for a missing cmd, the last line; 0 for the whole spec
	Msg  string // what is wrong
}

// Error returns "file:line: message", or "file: message" for an error of
// the whole spec (Line 0).
func (e *SpecError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// validKey reports whether k is a nonempty run of [A-Za-z0-9_-].
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// badValue returns why v cannot be an axis value (it names a directory
// level), or "".
func badValue(v string) string {
	switch {
	case v == "":
		return "empty value"
	case v == "." || v == "..":
		return fmt.Sprintf("value %q is not a directory name", v)
	case strings.ContainsAny(v, "/=,{}\\\"'`$\x00"):
		return fmt.Sprintf("value %q contains one of / = , { } \\ \" ' ` $", v)
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return fmt.Sprintf("value %q contains whitespace or a control character", v)
		}
	}
	return ""
}

// logicalLine is a line after comment removal and continuation joining.
type logicalLine struct {
	n    int // number of its first physical line
	text string
}

// stripComment cuts a comment: "#" at the start of the line or after
// whitespace, to the end of the line.
func stripComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// MaxSpecBytes bounds the size of a spec file.
const MaxSpecBytes = 16 << 20

// MaxRuns bounds the number of runs of a grid (the product of the axis
// lengths); a larger grid is a spec error at the axis that passes it.
const MaxRuns = 1_000_000

// readLines splits r into logical lines and returns the number of physical
// lines read. Lines may be of any length (within MaxSpecBytes).
func readLines(r io.Reader, text *[]byte) ([]logicalLine, int, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSpecBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > MaxSpecBytes {
		return nil, 0, fmt.Errorf("larger than %d MiB; a spec is a few lines", MaxSpecBytes>>20)
	}
	*text = data
	var out []logicalLine
	var cur strings.Builder
	start, n := 0, 0
	for rest := string(data); rest != ""; {
		line, tail, _ := strings.Cut(rest, "\n")
		rest = tail
		n++
		if strings.IndexByte(line, 0) >= 0 {
			return nil, n, &SpecError{Line: n, Msg: "NUL byte in the spec"}
		}
		s := strings.TrimRight(stripComment(strings.TrimSuffix(line, "\r")), " \t")
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(s, "\\")
		if cont {
			s = strings.TrimSuffix(s, "\\")
		}
		if t := strings.TrimSpace(s); t != "" {
			if cur.Len() > 0 {
				cur.WriteByte(' ')
			}
			cur.WriteString(t)
		}
		if !cont && cur.Len() > 0 {
			out = append(out, logicalLine{start, cur.String()})
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		out = append(out, logicalLine{start, cur.String()})
	}
	return out, n, nil
}

// Parse reads a sweep spec from r; name is used in error messages. Every
// error in the spec is a *SpecError naming the line.
func Parse(name string, r io.Reader) (*Spec, error) {
	s := &Spec{File: name}
	lines, nphys, err := readLines(r, &s.Text)
	var se *SpecError
	if errors.As(err, &se) {
		se.File = name
		return nil, se
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	runs := 1                // the grid's size so far, at most MaxRuns
	seen := map[string]int{} // key → line that defined it
	errf := func(line int, format string, args ...any) error {
		return &SpecError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	defKey := func(line int, k string) error {
		switch {
		case !validKey(k):
			return errf(line, "bad key %q (keys are made of A-Z a-z 0-9 _ -)", k)
		case reserved[k]:
			return errf(line, "key %q is reserved (the sweep defines {%s})", k, k)
		case seen[k] != 0:
			return errf(line, "duplicate key %q (first defined on line %d)", k, seen[k])
		}
		seen[k] = line
		return nil
	}
	doneLine, rootLine := 0, 0
	for _, l := range lines {
		directive, rest, _ := strings.Cut(l.text, " ")
		if i := strings.IndexByte(directive, '\t'); i >= 0 {
			directive, rest = l.text[:i], l.text[i+1:]
		}
		rest = strings.TrimSpace(rest)
		fields := strings.Fields(rest)
		switch directive {
		case "axis":
			if len(fields) == 0 {
				return nil, errf(l.n, "axis line without a key")
			}
			ax := Axis{Keys: strings.Split(fields[0], ","), Line: l.n}
			for _, k := range ax.Keys {
				if err := defKey(l.n, k); err != nil {
					return nil, err
				}
			}
			if len(fields) == 1 {
				return nil, errf(l.n, "empty axis %s (no values)", fields[0])
			}
			have := map[string]bool{}
			for _, f := range fields[1:] {
				vals := strings.Split(f, ",")
				if len(vals) != len(ax.Keys) {
					return nil, errf(l.n, "axis %s: value %q has %d parts, want %d (one per key)", fields[0], f, len(vals), len(ax.Keys))
				}
				for _, v := range vals {
					if why := badValue(v); why != "" {
						return nil, errf(l.n, "axis %s: %s", fields[0], why)
					}
				}
				if have[f] {
					return nil, errf(l.n, "axis %s: duplicate value %q", fields[0], f)
				}
				have[f] = true
				ax.Values = append(ax.Values, vals)
			}
			if len(ax.Values) > MaxRuns/runs {
				return nil, errf(l.n, "axis %s: the grid would have more than %d runs (%d so far × %d values); split the sweep", fields[0], MaxRuns, runs, len(ax.Values))
			}
			runs *= len(ax.Values)
			s.Axes = append(s.Axes, ax)
		case "set":
			if len(fields) != 2 {
				return nil, errf(l.n, "set wants a key and one value, got %d fields", len(fields))
			}
			if err := defKey(l.n, fields[0]); err != nil {
				return nil, err
			}
			s.Sets = append(s.Sets, Param{fields[0], fields[1]})
		case "root", "done":
			if len(fields) != 1 {
				return nil, errf(l.n, "%s wants one path, got %d fields", directive, len(fields))
			}
			if directive == "root" {
				if rootLine != 0 {
					return nil, errf(l.n, "second root line (first on line %d)", rootLine)
				}
				s.Root, rootLine = fields[0], l.n
				continue
			}
			if doneLine != 0 {
				return nil, errf(l.n, "second done line (first on line %d)", doneLine)
			}
			if filepath.IsAbs(fields[0]) || strings.Contains(fields[0], "..") {
				return nil, errf(l.n, "done file %q must be a relative path inside the run directory", fields[0])
			}
			s.Done, doneLine = fields[0], l.n
		case "cmd":
			if s.CmdLine != 0 {
				return nil, errf(l.n, "second cmd line (first on line %d)", s.CmdLine)
			}
			if rest == "" {
				return nil, errf(l.n, "empty cmd")
			}
			s.Cmd, s.CmdLine = rest, l.n
		case "resume":
			if s.ResumeLine != 0 {
				return nil, errf(l.n, "second resume line (first on line %d)", s.ResumeLine)
			}
			file, cmd, _ := strings.Cut(rest, " ")
			cmd = strings.TrimSpace(cmd)
			if file == "" || cmd == "" {
				return nil, errf(l.n, "resume wants a file and a command")
			}
			if filepath.IsAbs(file) || strings.Contains(file, "..") {
				return nil, errf(l.n, "resume file %q must be a relative path inside the run directory", file)
			}
			s.ResumeIf, s.Resume, s.ResumeLine = file, cmd, l.n
		default:
			return nil, errf(l.n, "unknown directive %q (axis, set, cmd, resume, root or done)", directive)
		}
	}
	if s.CmdLine == 0 {
		if len(lines) == 0 {
			return nil, errf(0, "empty spec (it needs at least a cmd line)")
		}
		return nil, errf(nphys, "missing cmd line")
	}
	if s.Done == "" {
		s.Done = DefaultDone
	}
	// Check the templates now, so that errors name their lines.
	vars := map[string]string{"dir": "", "root": "", "index": ""}
	for k := range seen {
		vars[k] = ""
	}
	if _, err := substitute(s.Cmd, vars); err != nil {
		return nil, errf(s.CmdLine, "%v", err)
	}
	if s.ResumeLine != 0 {
		if _, err := substitute(s.Resume, vars); err != nil {
			return nil, errf(s.ResumeLine, "%v", err)
		}
	}
	return s, nil
}

// Len is the number of runs in the grid: the product of the axis lengths
// (at most MaxRuns for a parsed spec; a product above it is reported as
// MaxRuns+1).
func (s *Spec) Len() int {
	n := 1
	for _, a := range s.Axes {
		if len(a.Values) == 0 {
			return 0
		}
		if len(a.Values) > (MaxRuns+1)/n {
			return MaxRuns + 1
		}
		n *= len(a.Values)
	}
	return n
}

// Keys is the list of axis keys in directory order.
func (s *Spec) Keys() []string {
	var ks []string
	for _, a := range s.Axes {
		ks = append(ks, a.Keys...)
	}
	return ks
}

// Expand returns every run of the grid in index order (Run for each
// index). It holds them all in memory: commands iterate with Run instead.
func (s *Spec) Expand(root string) ([]Run, error) {
	n := s.Len()
	if n > MaxRuns {
		return nil, fmt.Errorf("sweep: the grid has more than %d runs", MaxRuns)
	}
	runs := make([]Run, n)
	for i := range runs {
		r, err := s.Run(root, i)
		if err != nil {
			return nil, err
		}
		runs[i] = r
	}
	return runs, nil
}

// Run returns run i of the grid under root: the cartesian product of the
// axes in file order, first axis slowest (i is read as a mixed-radix number
// whose last digit is the last axis). Its directory is root/key=value/...
// with every axis key in order.
func (s *Spec) Run(root string, i int) (Run, error) {
	if root == "" {
		return Run{}, fmt.Errorf("sweep: empty root")
	}
	if i < 0 || i >= s.Len() {
		panic("sweep: run index out of range")
	}
	r := Run{Index: i}
	parts := []string{root}
	vars := map[string]string{"root": Quote(root), "index": strconv.Itoa(i)}
	for _, p := range s.Sets {
		vars[p.Key] = Quote(p.Value)
	}
	idx := make([]int, len(s.Axes))
	for a, rest := len(s.Axes)-1, i; a >= 0; a-- {
		idx[a] = rest % len(s.Axes[a].Values)
		rest /= len(s.Axes[a].Values)
	}
	for a, ax := range s.Axes {
		for k, key := range ax.Keys {
			v := ax.Values[idx[a]][k]
			r.Params = append(r.Params, Param{key, v})
			parts = append(parts, key+"="+v)
			vars[key] = Quote(v)
		}
	}
	r.Dir = filepath.Join(parts...)
	vars["dir"] = Quote(r.Dir)
	var err error
	if r.Cmd, err = substitute(s.Cmd, vars); err != nil {
		return Run{}, &SpecError{s.File, s.CmdLine, err.Error()}
	}
	if s.ResumeLine != 0 {
		if r.Resume, err = substitute(s.Resume, vars); err != nil {
			return Run{}, &SpecError{s.File, s.ResumeLine, err.Error()}
		}
	}
	return r, nil
}

// substitute replaces every {name} of tmpl, name a key ([A-Za-z0-9_-]+),
// by vars[name]; an unknown name is an error. Every other brace is left to
// the shell: "${HOME}" (a brace after $), "{ a; b; }", "{a,b}". "{{" stands
// for a literal "{", so "{{seed}" gives "{seed}".
func substitute(tmpl string, vars map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(tmpl) && tmpl[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if (i > 0 && tmpl[i-1] == '$') || j < 0 || !validKey(tmpl[i+1:i+j]) {
			b.WriteByte('{')
			continue
		}
		name := tmpl[i+1 : i+j]
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("unknown placeholder {%s} (not an axis or set key, dir, root or index; write {{ for a literal brace)", name)
		}
		b.WriteString(v)
		i += j
	}
	return b.String(), nil
}

// Quote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, else in single quotes (a single
// quote inside becomes '\”).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./=:,+@%", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

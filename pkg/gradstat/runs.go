package gradstat

import (
	"bytes"
	"encoding/json"
	"io"

	"entangle/pkg/runfmt"
)

// RunInfo is one entry of the "runs" metadata of gradstat's output: the
// identity and resolved configuration of a run, as its streams' metadata
// give them.
type RunInfo struct {
	Run    string          `json:"run"`
	RunID  string          `json:"run_id"`
	Loss   string          `json:"loss"`
	Mode   string          `json:"mode"`
	Source string          `json:"source"`
	Config json.RawMessage `json:"config,omitempty"`
}

// RunsMetadata reads the schema of every stream of each input and returns
// the JSON list of RunInfo (one per input, from its first stream) written as
// the "runs" metadata of the output (so a table row's run label leads to the
// run's train config), and an Opener to use from then on: it replays the
// bytes consumed from standard input. The first input that cannot be opened
// or does not start as one of the run formats is the error (Process would
// stop there too), so that a command can refuse its inputs before it writes
// a byte.
func RunsMetadata(inputs []Input, open Opener) (string, Opener, error) {
	var stdin []byte
	var stdinRC io.ReadCloser
	replay := func(p string) (io.ReadCloser, error) {
		if p == "-" && stdinRC != nil {
			return readCloser{io.MultiReader(bytes.NewReader(stdin), stdinRC), stdinRC}, nil
		}
		return open(p)
	}
	infos := []RunInfo{}
	for _, in := range inputs {
		seen := false
		for _, p := range in.Files {
			rc, err := open(p)
			if err != nil {
				return "", replay, &InputError{File: displayName(p), Step: -1, Err: err}
			}
			var buf bytes.Buffer
			r := io.Reader(rc)
			if p == "-" {
				r = io.TeeReader(rc, &buf)
			}
			a, err := runfmt.OpenAny(r, displayName(p))
			if p == "-" {
				stdin, stdinRC = buf.Bytes(), rc
			} else {
				rc.Close()
			}
			if err != nil {
				return "", replay, err // runfmt's message names the input
			}
			m := a.Meta
			a.Release()
			if seen {
				continue
			}
			seen = true
			ri := RunInfo{Run: in.Label, RunID: m.RunID, Loss: m.Loss, Mode: m.Mode, Source: in.Dir}
			if ri.Source == "" {
				ri.Source = displayName(p)
			}
			if json.Valid([]byte(m.Config)) {
				ri.Config = json.RawMessage(m.Config)
			}
			infos = append(infos, ri)
		}
	}
	js, _ := json.Marshal(infos)
	return string(js), replay, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

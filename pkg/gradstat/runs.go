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

// RunsMetadata reads the schema of the first readable stream of each input
// and returns the JSON list of RunInfo written as the "runs" metadata of the
// output (so a table row's run label leads to the run's train config), and
// an Opener to use from then on: it replays the bytes consumed from standard
// input. Unreadable inputs are skipped here; Process reports them.
func RunsMetadata(inputs []Input, open Opener) (string, Opener) {
	var stdin []byte
	var stdinRC io.ReadCloser
	var infos []RunInfo
	for _, in := range inputs {
		for _, p := range in.Files {
			rc, err := open(p)
			if err != nil {
				continue
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
				continue
			}
			m := a.Meta
			a.Release()
			ri := RunInfo{Run: in.Label, RunID: m.RunID, Loss: m.Loss, Mode: m.Mode, Source: in.Dir}
			if ri.Source == "" {
				ri.Source = displayName(p)
			}
			if json.Valid([]byte(m.Config)) {
				ri.Config = json.RawMessage(m.Config)
			}
			infos = append(infos, ri)
			break
		}
	}
	if infos == nil {
		infos = []RunInfo{}
	}
	js, _ := json.Marshal(infos)
	replay := func(p string) (io.ReadCloser, error) {
		if p == "-" && stdinRC != nil {
			return readCloser{io.MultiReader(bytes.NewReader(stdin), stdinRC), stdinRC}, nil
		}
		return open(p)
	}
	return string(js), replay
}

type readCloser struct {
	io.Reader
	io.Closer
}

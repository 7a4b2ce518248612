package train

import (
	"encoding/json"
	"fmt"
	"strconv"

	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// Checkpoint formats (safetensors "__metadata__" key "format").
const (
	CheckpointFormat = "entangle.checkpoint" // checkpoint.safetensors: weights, optimizer state, step
	ModelFormat      = "entangle.model"      // model.safetensors: final weights only
)

// Checkpoint is the state a run resumes from.
type Checkpoint struct {
	Model  model.Config
	Params []float32 // (P) layout of model.Tensors
	Train  Config    // the run's resolved config ("train_config")
	Step   int       // optimizer steps taken
	Mode   string
	// Optimizer state: SGD's momentum buffer or AdamW's moments (nil when
	// absent) and the optimizer's step count.
	M, V   []float32
	OptimT int
	// Gate is the learned token gate of -sparse learned (u then b), nil otherwise.
	Gate []float64
}

// tensorsOf returns the model parameters as named safetensors tensors, in
// model.Tensors order.
func tensorsOf(cfg model.Config, params []float32) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, t := range model.Tensors(cfg) {
		ts = append(ts, safetensors.F32(t.Name, t.Shape, params[t.Offset:t.Offset+t.Size]))
	}
	return ts
}

func metaOf(format string, c *Checkpoint) map[string]string {
	mc, _ := json.Marshal(c.Model)
	return map[string]string{
		"format":         format,
		"format_version": FormatVersion,
		"config":         string(mc),
		"train_config":   c.Train.JSON(),
		"step":           strconv.Itoa(c.Step),
		"mode":           c.Mode,
	}
}

// WriteCheckpoint writes c to path atomically: the parameters under their
// model.Tensors names (F32), then "optim.m" and "optim.v" (F32, flat, when
// present) and "optim.t" (I64 scalar), with metadata format
// "entangle.checkpoint", format_version, config (model config JSON),
// train_config, step and mode.
func WriteCheckpoint(path string, c *Checkpoint) error {
	ts := tensorsOf(c.Model, c.Params)
	if c.M != nil {
		ts = append(ts, safetensors.F32("optim.m", []int{len(c.M)}, c.M))
	}
	if c.V != nil {
		ts = append(ts, safetensors.F32("optim.v", []int{len(c.V)}, c.V))
	}
	ts = append(ts, safetensors.I64("optim.t", nil, []int64{int64(c.OptimT)}))
	if c.Gate != nil {
		ts = append(ts, safetensors.F64("pref.gate", []int{len(c.Gate)}, c.Gate))
	}
	return safetensors.WriteFile(path, ts, metaOf(CheckpointFormat, c))
}

// WriteModel writes the weights of c to path atomically (format
// "entangle.model", same metadata as a checkpoint, no optimizer state): the
// file a later stage's -init or -ref loads.
func WriteModel(path string, c *Checkpoint) error {
	return safetensors.WriteFile(path, tensorsOf(c.Model, c.Params), metaOf(ModelFormat, c))
}

// ReadCheckpoint reads a checkpoint or model file. Every error is one line
// naming path: unreadable or truncated files, another format or version, a
// config that does not parse, missing tensors or wrong shapes.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %v", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	format, version := f.Meta["format"], f.Meta["format_version"]
	if format != CheckpointFormat && format != ModelFormat {
		return nil, bad("format %q is not an entangle checkpoint (want %q or %q; HINT: train writes them under -out DIR)", format, CheckpointFormat, ModelFormat)
	}
	if version != FormatVersion {
		return nil, bad("format_version %q is not supported (want %q; HINT: re-run train with this version)", version, FormatVersion)
	}
	c := &Checkpoint{Mode: f.Meta["mode"]}
	if err := json.Unmarshal([]byte(f.Meta["config"]), &c.Model); err != nil {
		return nil, bad("bad model config: %v", err)
	}
	if err := c.Model.Validate(); err != nil {
		return nil, bad("bad model config: %v", err)
	}
	if s, ok := f.Meta["train_config"]; ok && s != "" {
		if err := json.Unmarshal([]byte(s), &c.Train); err != nil {
			return nil, bad("bad train_config: %v", err)
		}
	}
	if c.Step, err = strconv.Atoi(f.Meta["step"]); err != nil || c.Step < 0 {
		return nil, bad("bad step %q", f.Meta["step"])
	}
	P := model.NumParams(c.Model)
	c.Params = make([]float32, P)
	for _, t := range model.Tensors(c.Model) {
		x, ok := f.Tensor(t.Name)
		if !ok {
			return nil, bad("tensor %q is missing", t.Name)
		}
		if !sameShape(x.Shape, t.Shape) {
			return nil, bad("tensor %q has shape %v, want %v (model config %s)", t.Name, x.Shape, t.Shape, f.Meta["config"])
		}
		v, err := f.Float32s(t.Name)
		if err != nil {
			return nil, bad("%v", err)
		}
		copy(c.Params[t.Offset:], v)
	}
	if format == ModelFormat {
		return c, nil
	}
	for name, dst := range map[string]*[]float32{"optim.m": &c.M, "optim.v": &c.V} {
		if _, ok := f.Tensor(name); !ok {
			continue
		}
		v, err := f.Float32s(name)
		if err != nil {
			return nil, bad("%v", err)
		}
		if len(v) != P {
			return nil, bad("tensor %q has %d elements, want %d", name, len(v), P)
		}
		*dst = v
	}
	t, err := f.Int64s("optim.t")
	if err != nil || len(t) != 1 || t[0] < 0 {
		return nil, bad("missing or bad optim.t")
	}
	c.OptimT = int(t[0])
	if _, ok := f.Tensor("pref.gate"); ok {
		if c.Gate, err = f.Float64s("pref.gate"); err != nil || len(c.Gate) != c.Model.C+1 {
			return nil, bad("bad pref.gate tensor")
		}
	}
	return c, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

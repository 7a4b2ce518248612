package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
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
	// LoRA are the adapters of -lora ("lora.params", model.LoRA.Params);
	// Params are then the base weights and M, V the adapters' moments.
	LoRA []float32
	// Family is the Hugging Face model_type of the model directory the
	// weights descend from (metadata "model_type", "" when none): -export-hf
	// writes that family (a mistral stays mistral) even when the directory
	// is gone.
	Family string
}

// tensorsOf returns the model parameters as named safetensors tensors, in
// model.Tensors order.
func tensorsOf(cfg model.Config, params []float32) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, t := range model.Tensors(cfg) {
		ts = append(ts, safetensors.F32View(t.Name, t.Shape, params[t.Offset:t.Offset+t.Size]))
	}
	return ts
}

func metaOf(format string, c *Checkpoint) map[string]string {
	mc, _ := json.Marshal(c.Model)
	m := map[string]string{
		"format":         format,
		"format_version": FormatVersion,
		"config":         string(mc),
		"train_config":   c.Train.JSON(),
		"step":           strconv.Itoa(c.Step),
		"mode":           c.Mode,
	}
	if c.Family != "" {
		m["model_type"] = c.Family
	}
	return m
}

// WriteCheckpoint writes c to path atomically: the parameters under their
// model.Tensors names (F32), then "optim.m" and "optim.v" (F32, flat, when
// present) and "optim.t" (I64 scalar), with metadata format
// "entangle.checkpoint", format_version, config (model config JSON),
// train_config, step and mode.
func WriteCheckpoint(path string, c *Checkpoint) error {
	ts := tensorsOf(c.Model, c.Params)
	if c.M != nil {
		ts = append(ts, safetensors.F32View("optim.m", []int{len(c.M)}, c.M))
	}
	if c.V != nil {
		ts = append(ts, safetensors.F32View("optim.v", []int{len(c.V)}, c.V))
	}
	ts = append(ts, safetensors.I64("optim.t", nil, []int64{int64(c.OptimT)}))
	if c.Gate != nil {
		ts = append(ts, safetensors.F64("pref.gate", []int{len(c.Gate)}, c.Gate))
	}
	if c.LoRA != nil {
		ts = append(ts, safetensors.F32View("lora.params", []int{len(c.LoRA)}, c.LoRA))
	}
	return safetensors.WriteFile(path, ts, metaOf(CheckpointFormat, c))
}

// WriteModel writes the weights of c to path atomically (format
// "entangle.model", same metadata as a checkpoint, no optimizer state): the
// file a later stage's -init or -ref loads.
func WriteModel(path string, c *Checkpoint) error {
	return safetensors.WriteFile(path, tensorsOf(c.Model, c.Params), metaOf(ModelFormat, c))
}

// ReadCheckpoint reads a checkpoint or model file, or a Hugging Face model
// directory (pkg/hfmodel: its weights, step 0, no optimizer state). Every
// error is one line naming the file: unreadable or truncated files, another
// format or version, a config that does not parse or does not match the
// tensors in the file, missing tensors or wrong shapes. The config is checked
// against the tensors the file really holds before anything is allocated, so
// a small file cannot make it allocate more than the file's own size.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	if hfmodel.IsDir(path) {
		hm, err := hfmodel.Load(path)
		if err != nil {
			return nil, err
		}
		return &Checkpoint{Model: hm.Config, Params: hm.Params, Family: hm.Family}, nil
	}
	r, c, err := openCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	P := model.NumParams(c.Model)
	c.Params = make([]float32, P)
	for _, t := range model.Tensors(c.Model) {
		if err := r.ReadFloat32s(t.Name, c.Params[t.Offset:t.Offset+t.Size]); err != nil {
			return nil, bad("%v", err)
		}
	}
	if r.Meta["format"] == ModelFormat {
		return c, nil
	}
	if x, ok := r.Info("lora.params"); ok {
		c.LoRA = make([]float32, x.Shape[0])
		if err := r.ReadFloat32s("lora.params", c.LoRA); err != nil {
			return nil, bad("%v", err)
		}
		P = len(c.LoRA) // the moments are the adapters'
	}
	for name, dst := range map[string]*[]float32{"optim.m": &c.M, "optim.v": &c.V} {
		if _, ok := r.Info(name); !ok {
			continue
		}
		*dst = make([]float32, P)
		if err := r.ReadFloat32s(name, *dst); err != nil {
			return nil, bad("%v", err)
		}
	}
	t, err := readInt64s(r, "optim.t", 1)
	if err != nil || t[0] < 0 {
		return nil, bad("missing or bad optim.t")
	}
	c.OptimT = int(t[0])
	if _, ok := r.Info("pref.gate"); ok {
		raw, err := r.Bytes("pref.gate")
		if err != nil {
			return nil, bad("%v", err)
		}
		c.Gate = make([]float64, len(raw)/8)
		for i := range c.Gate {
			c.Gate[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	return c, nil
}

// ReadCheckpointConfig returns the model config of a checkpoint or model
// file, or of a Hugging Face model directory, with every check of
// ReadCheckpoint on the header but no weights read.
func ReadCheckpointConfig(path string) (model.Config, error) {
	if hfmodel.IsDir(path) {
		cfg, _, err := hfmodel.Inspect(path)
		return cfg, err
	}
	r, c, err := openCheckpoint(path)
	if err != nil {
		return model.Config{}, err
	}
	r.Close()
	return c.Model, nil
}

// openCheckpoint opens path, reads its metadata and checks every tensor the
// config implies (names, shapes, F32) and the optimizer tensors against the
// header. The returned Checkpoint has no buffers yet.
func openCheckpoint(path string) (*safetensors.Reader, *Checkpoint, error) {
	r, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %v", path, err)
	}
	c, err := checkHeader(path, r.Header)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, c, nil
}

// checkHeader is openCheckpoint's check of a decoded header.
func checkHeader(path string, h *safetensors.Header) (*Checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	format, version := h.Meta["format"], h.Meta["format_version"]
	if format != CheckpointFormat && format != ModelFormat {
		return nil, bad("format %q is not an entangle checkpoint (want %q or %q; HINT: train writes them under -out DIR)", format, CheckpointFormat, ModelFormat)
	}
	if !runfmt.Readable(version) {
		return nil, bad("format_version %q is not supported (want %q or older; HINT: re-run train with this version)", version, FormatVersion)
	}
	c := &Checkpoint{Mode: h.Meta["mode"], Family: h.Meta["model_type"]}
	if err := json.Unmarshal([]byte(h.Meta["config"]), &c.Model); err != nil {
		return nil, bad("bad model config: %v", err)
	}
	if err := c.Model.Validate(); err != nil {
		return nil, bad("bad model config: %v", err)
	}
	if s, ok := h.Meta["train_config"]; ok && s != "" {
		if err := json.Unmarshal([]byte(s), &c.Train); err != nil {
			return nil, bad("bad train_config: %v", err)
		}
	}
	var err error
	if c.Step, err = strconv.Atoi(h.Meta["step"]); err != nil || c.Step < 0 {
		return nil, bad("bad step %q", h.Meta["step"])
	}
	// The config's tensor count is bounded by the file's before the table
	// is built: a config claiming 10⁸ layers fails here.
	if need := model.NumTensors(c.Model); need > len(h.Tensors) {
		return nil, bad("the model config (%d layers) needs at least %d tensors, the file holds %d", c.Model.L, need, len(h.Tensors))
	}
	for _, t := range model.Tensors(c.Model) {
		x, ok := h.Info(t.Name)
		if !ok {
			return nil, bad("tensor %q is missing", t.Name)
		}
		if !slices.Equal(x.Shape, t.Shape) {
			return nil, bad("tensor %q has shape %v, want %v (model config %s)", t.Name, x.Shape, t.Shape, h.Meta["config"])
		}
		if x.DType != "F32" {
			return nil, bad("tensor %q has dtype %s, want F32", t.Name, x.DType)
		}
	}
	if format == ModelFormat {
		return c, nil
	}
	P := model.NumParams(c.Model)
	if x, ok := h.Info("lora.params"); ok {
		if x.DType != "F32" || len(x.Shape) != 1 || x.Shape[0] < 1 {
			return nil, bad("bad lora.params tensor")
		}
		P = x.Shape[0]
	}
	for _, name := range []string{"optim.m", "optim.v"} {
		if x, ok := h.Info(name); ok && (x.DType != "F32" || !slices.Equal(x.Shape, []int{P})) {
			return nil, bad("tensor %q has dtype %s shape %v, want F32 [%d]", name, x.DType, x.Shape, P)
		}
	}
	if x, ok := h.Info("optim.t"); !ok || x.DType != "I64" || len(x.Shape) != 0 {
		return nil, bad("missing or bad optim.t")
	}
	if x, ok := h.Info("pref.gate"); ok && (x.DType != "F64" || !slices.Equal(x.Shape, []int{c.Model.C + 1})) {
		return nil, bad("bad pref.gate tensor")
	}
	return c, nil
}

// readInt64s reads the I64 tensor name of n elements.
func readInt64s(r *safetensors.Reader, name string, n int) ([]int64, error) {
	raw, err := r.Bytes(name)
	if err != nil {
		return nil, err
	}
	if len(raw) != 8*n {
		return nil, fmt.Errorf("tensor %q has %d bytes, want %d", name, len(raw), 8*n)
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return v, nil
}

// checkSources resolves the model config of cfg.Init (headers only) and
// checks the -init and -ref weights against the dataset d before anything
// is allocated: a Hugging Face model directory's vocabulary is its
// tokenizer's, so the dataset must use exactly V token ids, and the
// reference must have the policy's config.
func checkSources(cfg *Config, d *prefdata.Dataset) error {
	if cfg.Init != "" {
		m, err := ReadCheckpointConfig(cfg.Init)
		if err != nil {
			return err
		}
		cfg.Model, cfg.Preset = m, ""
		if err := CheckHFVocab(cfg.Init, m, d); err != nil {
			return err
		}
		if cfg.LoRA != nil {
			if err := cfg.LoRA.CheckModules(m); err != nil {
				return err
			}
			if cfg.LoRA.Base == "" {
				cfg.LoRA.Base = cfg.Init
			}
		}
	}
	if cfg.Pref != nil && cfg.Pref.Ref != "" {
		m, err := ReadCheckpointConfig(cfg.Pref.Ref)
		if err != nil {
			return err
		}
		if m != cfg.Model {
			return fmt.Errorf("reference %s: its model config %+v differs from the policy's %+v", cfg.Pref.Ref, m, cfg.Model)
		}
		if err := CheckHFVocab(cfg.Pref.Ref, m, d); err != nil {
			return err
		}
	}
	return nil
}

// CheckHFVocab refuses a dataset whose vocabulary size differs from the V of
// the Hugging Face model directory path (nothing for a checkpoint file): the
// directory's tokenizer must be the dataset's. A model whose embedding has
// padding rows beyond its tokenizer (Pythia's 50304 rows for 50277 tokens)
// takes a dataset of the tokenizer's size, when the directory's tokenizer
// files say so (hfmodel.TokenizerSize). A dataset that records its tokenizer
// (prefgen import) must have been made with the directory's own
// (checkDirTokenizer).
func CheckHFVocab(path string, m model.Config, d *prefdata.Dataset) error {
	if !hfmodel.IsDir(path) {
		return nil
	}
	if err := checkDirTokenizer(path, d); err != nil {
		return err
	}
	v := d.Vocab.Size()
	if v < m.V && hfmodel.TokenizerSize(path) == v {
		return nil
	}
	if v != m.V {
		return fmt.Errorf("%s: the model's vocabulary has %d tokens but the dataset's has %d: tokenize the data with this model's tokenizer",
			path, m.V, v)
	}
	return nil
}

// HFAncestor returns the Hugging Face model directory the weights at path
// descend from: path itself when it is one, else the "init" of its
// train_config, followed through up to 16 checkpoints; "" when there is none
// (or a file on the way is unreadable).
func HFAncestor(path string) string {
	for range 16 {
		if path == "" {
			return ""
		}
		if hfmodel.IsDir(path) {
			return path
		}
		r, c, err := openCheckpoint(path)
		if err != nil {
			return ""
		}
		r.Close()
		path = c.Train.Init
	}
	return ""
}

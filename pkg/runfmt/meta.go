package runfmt

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
)

// Format names (schema metadata key "format").
const (
	FormatSteps = "entangle.steps"
	FormatPairs = "entangle.pairs"
	FormatGrads = "entangle.grads"

	// FormatPrefdata is prefgen's dataset format; readers refuse it by name.
	FormatPrefdata = "entangle.prefdata"
)

// Version is the format_version this package writes, also that of train's
// checkpoints (train.FormatVersion): one number for every file of a run. It
// changes when a column changes meaning or type, or the keys of the run's
// config (the "config" metadata, config.json) change:
//
//	1  the loss parameters under Go field names ("Beta", "LabelSmoothing")
//	2  every config key in snake_case ("beta", "label_smoothing")
const Version = "2"

// Readable reports whether this build reads format_version v: Version, and
// 1, whose files differ only in the config's loss-parameter keys (which
// loss.Params reads in both forms).
func Readable(v string) bool { return v == Version || v == "1" }

// Producer is the default "producer" metadata value.
const Producer = "train"

// Group is one parameter group: Size parameters at Offset of the flat
// parameter vector (the model.Tensors table) when Of is "", or of the
// adapter vector when Of is GroupsLoRA (train -lora: the LoRA adapters'
// tensors, after the model's groups). The totals dot, ww, ll of a pair are
// the sums over the groups with Of "" (under train -lora-grad adapters the
// adapters' tensors, offsets into the adapter vector: the totals are the
// adapters').
type Group struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Size   int    `json:"size"`
	Of     string `json:"of,omitempty"`
}

// GroupsLoRA is Group.Of of the LoRA adapter groups.
const GroupsLoRA = "lora"

// Meta is the schema metadata of a run output. Writers set Format and
// Version themselves; the other fields are the caller's.
type Meta struct {
	Format      string // "entangle.steps" | "entangle.pairs" | "entangle.grads" | "entangle.attrib"
	Version     string // format_version
	Producer    string // "train" when empty
	RunID       string // hex of a hash of the resolved train config
	Config      string // JSON of the resolved train config
	ModelConfig string // JSON of model.Config
	Loss        string // loss name, "" for sft
	Mode        string // "sft" | "pref"
	Sketch      string // grads: "full" or "sketch:K"
	SketchSeed  uint64 // grads: seed of the entangle.Sketch
	Dim         int    // grads: D, the length of every grad vector
	C           int    // pairs: width of hid_w/hid_l (model width)
	Groups      []Group
	Vocab       []string
	// Raw holds every key/value of the schema metadata as read. On writing,
	// keys of Raw that are not standard keys are written too.
	Raw map[string]string
}

// G is the number of parameter groups.
func (m *Meta) G() int { return len(m.Groups) }

var standardKeys = map[string]bool{"format": true, "format_version": true, "producer": true, "run_id": true,
	"config": true, "model_config": true, "groups": true, "vocab": true, "loss": true, "mode": true,
	"G": true, "C": true, "sketch": true, "sketch_seed": true, "dim": true}

// metadata renders m for the given format.
func (m *Meta) metadata(format string) arrow.Metadata {
	groups := m.Groups
	if groups == nil {
		groups = []Group{}
	}
	vocab := m.Vocab
	if vocab == nil {
		vocab = []string{}
	}
	gj, _ := json.Marshal(groups)
	vj, _ := json.Marshal(vocab)
	prod := m.Producer
	if prod == "" {
		prod = Producer
	}
	kv := map[string]string{
		"format": format, "format_version": Version, "producer": prod, "run_id": m.RunID,
		"config": m.Config, "model_config": m.ModelConfig, "groups": string(gj), "vocab": string(vj),
		"loss": m.Loss, "mode": m.Mode,
	}
	switch format {
	case FormatPairs:
		kv["G"] = strconv.Itoa(len(m.Groups))
		kv["C"] = strconv.Itoa(m.C)
	case FormatGrads:
		kv["sketch"] = m.Sketch
		kv["sketch_seed"] = strconv.FormatUint(m.SketchSeed, 10)
		kv["dim"] = strconv.Itoa(m.Dim)
	}
	for k, v := range m.Raw {
		if !standardKeys[k] {
			kv[k] = v
		}
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = kv[k]
	}
	return arrow.NewMetadata(keys, vals)
}

// parseMeta decodes schema metadata. It checks only what it parses (numbers,
// JSON); format and version checks are the caller's.
func parseMeta(md arrow.Metadata) (Meta, error) {
	raw := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		raw[k] = md.Values()[i]
	}
	m := Meta{Format: raw["format"], Version: raw["format_version"], Producer: raw["producer"],
		RunID: raw["run_id"], Config: raw["config"], ModelConfig: raw["model_config"],
		Loss: raw["loss"], Mode: raw["mode"], Sketch: raw["sketch"], Raw: raw}
	if s, ok := raw["groups"]; ok && s != "" {
		if err := json.Unmarshal([]byte(s), &m.Groups); err != nil {
			return m, fmt.Errorf("metadata \"groups\" is not a JSON list of {name, offset, size}: %v", err)
		}
	}
	if s, ok := raw["vocab"]; ok && s != "" {
		if err := json.Unmarshal([]byte(s), &m.Vocab); err != nil {
			return m, fmt.Errorf("metadata \"vocab\" is not a JSON list of strings: %v", err)
		}
	}
	atoi := func(key string, dst *int) error {
		s, ok := raw[key]
		if !ok {
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return fmt.Errorf("metadata %q = %q is not a non-negative integer", key, s)
		}
		*dst = v
		return nil
	}
	if err := atoi("C", &m.C); err != nil {
		return m, err
	}
	if err := atoi("dim", &m.Dim); err != nil {
		return m, err
	}
	if s, ok := raw["G"]; ok {
		g, err := strconv.Atoi(s)
		if err != nil || g != len(m.Groups) {
			return m, fmt.Errorf("metadata G = %q does not match the %d groups", s, len(m.Groups))
		}
	}
	if s, ok := raw["sketch_seed"]; ok {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return m, fmt.Errorf("metadata \"sketch_seed\" = %q is not an unsigned integer", s)
		}
		m.SketchSeed = v
	}
	return m, nil
}

package hfmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"entangle/internal/atomicfile"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// Write writes a Hugging Face model directory for cfg and params (layout of
// model.Tensors(cfg)) into dir (created if needed): config.json and
// model.safetensors with the family's own names and layout (for GPT-2 the
// names of the gpt2 checkpoint, without a prefix, Conv1D weights [in, out]),
// in dtype F32, F16 or BF16, with the "format": "pt" metadata transformers
// expects. Each file is written atomically. The weights a family's Load reads
// back are params exactly for F32; for F16/BF16 they are params rounded to
// nearest even, so parameters that came from F16/BF16 weights are written
// back to the same bytes.
func Write(dir, modelType string, cfg model.Config, params []float32, dtype string) error {
	fam, ok := families[modelType]
	if !ok {
		return fmt.Errorf("hfmodel: model_type %q is not supported", modelType)
	}
	if !safetensors.IsFloat(dtype) {
		return fmt.Errorf("hfmodel: dtype %q is not F32, F16 or BF16", dtype)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(params) != model.NumParams(cfg) {
		return fmt.Errorf("hfmodel: %d parameters, the config has %d", len(params), model.NumParams(cfg))
	}
	ec, err := fam.ExportConfig(cfg, dtype)
	if err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for _, st := range toStored(fam, cfg, params) {
		ts = append(ts, safetensors.Floats(st.name, dtype, st.shape, st.data))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), append(b, '\n'))
}

// stored is one tensor in a family's stored layout.
type stored[F model.Float] struct {
	name  string
	shape []int
	data  []F
}

// toStored returns buf (layout of model.Tensors(cfg): parameters or a
// gradient) as the family's stored tensors, in table order.
func toStored[F model.Float](fam *Family, cfg model.Config, buf []F) []stored[F] {
	byName := map[string]model.Tensor{}
	for _, t := range model.Tensors(cfg) {
		byName[t.Name] = t
	}
	var out []stored[F]
	for _, mp := range fam.Table(cfg) {
		src := byName[mp.Ours]
		rowLen := src.Size / src.Shape[0]
		n := numel(mp.Shape)
		v := buf[src.Offset+mp.Row0*rowLen : src.Offset+mp.Row0*rowLen+n]
		if mp.Heads > 0 {
			hv := make([]F, n)
			toHeads(hv, v, mp.Heads, n/mp.Shape[0])
			v = hv
		}
		if mp.Transpose {
			// ours (Shape[1], Shape[0]) → stored (Shape[0], Shape[1])
			tr := make([]F, n)
			transpose(tr, v, mp.Shape[1], mp.Shape[0])
			v = tr
		}
		out = append(out, stored[F]{mp.HF, mp.Shape, v})
	}
	return out
}

// TokenizerFiles are the tokenizer and generation files of a model
// directory, which CopyTokenizer carries over to an exported one.
var TokenizerFiles = []string{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
	"special_tokens_map.json", "added_tokens.json", "generation_config.json"}

// CopyTokenizer copies those of TokenizerFiles that exist in src into dst
// (each atomically) and returns their names.
func CopyTokenizer(src, dst string) ([]string, error) {
	var done []string
	for _, name := range TokenizerFiles {
		b, err := readSmall(filepath.Join(src, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return done, err
		}
		if err := atomicfile.Write(filepath.Join(dst, name), b); err != nil {
			return done, err
		}
		done = append(done, name)
	}
	return done, nil
}

// TokenizerSize returns the number of token ids of the tokenizer files of
// the model directory dir, one more than the largest id of tokenizer.json's
// model.vocab and added_tokens (or of vocab.json and added_tokens.json), or
// 0 when there are none or they do not parse. A model's vocab_size may be
// larger (padding rows of the embedding).
func TokenizerSize(dir string) int {
	top := -1
	see := func(ids map[string]int) {
		for _, id := range ids {
			top = max(top, id)
		}
	}
	if b, err := readSmall(filepath.Join(dir, "tokenizer.json")); err == nil {
		var tj struct {
			Model struct {
				Vocab map[string]int `json:"vocab"`
			} `json:"model"`
			Added []struct {
				ID int `json:"id"`
			} `json:"added_tokens"`
		}
		if json.Unmarshal(b, &tj) != nil {
			return 0
		}
		see(tj.Model.Vocab)
		for _, a := range tj.Added {
			top = max(top, a.ID)
		}
		return top + 1
	}
	b, err := readSmall(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return 0
	}
	var vocab map[string]int
	if json.Unmarshal(b, &vocab) != nil {
		return 0
	}
	see(vocab)
	if b, err := readSmall(filepath.Join(dir, "added_tokens.json")); err == nil {
		var added map[string]int
		if json.Unmarshal(b, &added) == nil {
			see(added)
		}
	}
	return top + 1
}

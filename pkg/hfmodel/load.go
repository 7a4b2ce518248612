package hfmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// File names of a Hugging Face model directory.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
	IndexFile   = "model.safetensors.index.json" // sharded weights: weight_map name → shard file
)

// maxConfigLen bounds config.json and the shard index (both are a few KB).
const maxConfigLen = 16 << 20

// IsDir reports whether path is a directory (a model directory rather than a
// checkpoint file).
func IsDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// Model is a loaded model directory.
type Model struct {
	Dir    string
	Family string       // model_type
	Config model.Config // T is n_positions
	Params []float32    // layout of model.Tensors(Config)
	DType  string       // the weights' dtype (F32, F16 or BF16; "mixed" if they differ)
}

// plan is a model directory checked against its family's table, with every
// source tensor located, before any parameter buffer exists.
type plan struct {
	dir     string
	fam     *Family
	cfg     model.Config
	readers []*safetensors.Reader
	src     map[string]source // table HF name → where it is stored
	tab     []Mapping
	dtype   string
	tiedDup bool // a tied checkpoint that also stores lm_head.weight
}

type source struct {
	r    *safetensors.Reader
	name string // stored name (with its prefix)
}

func (p *plan) close() {
	for _, r := range p.readers {
		r.Close()
	}
}

// Inspect reads the config and the safetensors headers of the model
// directory dir and checks them against the family's table, reading no
// weights. Its errors are Load's.
func Inspect(dir string) (model.Config, string, error) {
	p, err := open(dir)
	if err != nil {
		return model.Config{}, "", err
	}
	p.close()
	return p.cfg, p.fam.ModelType, nil
}

// Load reads the model directory dir: config.json, then model.safetensors
// or the shards of model.safetensors.index.json. It checks every tensor's
// name, shape and dtype against the family's table before it allocates the
// parameters, and every error is one line naming the file at fault.
func Load(dir string) (*Model, error) {
	p, err := open(dir)
	if err != nil {
		return nil, err
	}
	defer p.close()
	params := make([]float32, model.NumParams(p.cfg))
	byName := map[string]model.Tensor{}
	for _, t := range model.Tensors(p.cfg) {
		byName[t.Name] = t
	}
	var buf []float32
	for _, mp := range p.tab {
		s := p.src[mp.HF]
		dst := byName[mp.Ours]
		rowLen := dst.Size / dst.Shape[0]
		n := numel(mp.Shape)
		out := params[dst.Offset+mp.Row0*rowLen : dst.Offset+mp.Row0*rowLen+n]
		if mp.Heads > 0 {
			if cap(buf) < n {
				buf = make([]float32, n)
			}
			buf = buf[:n]
			if err := s.r.ReadFloat32s(s.name, buf); err != nil {
				return nil, oneLine(err)
			}
			unHead(out, buf, mp.Heads, n/mp.Shape[0])
			continue
		}
		if !mp.Transpose {
			if err := s.r.ReadFloat32s(s.name, out); err != nil {
				return nil, oneLine(err)
			}
			continue
		}
		if cap(buf) < n {
			buf = make([]float32, n)
		}
		buf = buf[:n]
		if err := s.r.ReadFloat32s(s.name, buf); err != nil {
			return nil, oneLine(err)
		}
		transpose(out, buf, mp.Shape[0], mp.Shape[1])
	}
	if p.tiedDup {
		// A tied checkpoint may store the head as well; it must be wte.
		s := p.src["lm_head.weight"]
		head := make([]float32, p.cfg.V*p.cfg.C)
		if err := s.r.ReadFloat32s(s.name, head); err != nil {
			return nil, oneLine(err)
		}
		wte := model.ViewOf(params, p.cfg, "wte")
		for i := range head {
			if head[i] != wte[i] && !(head[i] != head[i] && wte[i] != wte[i]) {
				return nil, fmt.Errorf("%s: %s differs from wte.weight, but config.json ties the head to the embedding (tie_word_embeddings)",
					s.r.Path, s.name)
			}
		}
	}
	return &Model{Dir: dir, Family: p.fam.ModelType, Config: p.cfg, Params: params, DType: p.dtype}, nil
}

// transpose writes the (cols, rows) transpose of src (rows, cols) to dst.
func transpose[F model.Float](dst, src []F, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
}

// unHead reorders rows grouped by head, (heads, 3, hs) blocks of rows of
// rowLen elements in src, into (3, heads, hs) in dst (Mapping.Heads).
func unHead[F model.Float](dst, src []F, heads, rowLen int) {
	hs := len(src) / rowLen / heads / 3
	blk := hs * rowLen
	for h := 0; h < heads; h++ {
		for part := 0; part < 3; part++ {
			copy(dst[(part*heads+h)*blk:(part*heads+h+1)*blk], src[(h*3+part)*blk:(h*3+part+1)*blk])
		}
	}
}

// toHeads is the inverse of unHead.
func toHeads[F model.Float](dst, src []F, heads, rowLen int) {
	hs := len(src) / rowLen / heads / 3
	blk := hs * rowLen
	for h := 0; h < heads; h++ {
		for part := 0; part < 3; part++ {
			copy(dst[(h*3+part)*blk:(h*3+part+1)*blk], src[(part*heads+h)*blk:(part*heads+h+1)*blk])
		}
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func oneLine(err error) error { return errors.New(strings.ReplaceAll(err.Error(), "\n", " ")) }

// open parses config.json, opens the weight files and matches their tensors
// against the family's table.
func open(dir string) (*plan, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	raw, err := readSmall(cfgPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s: not a Hugging Face model directory", dir, ConfigFile)
		}
		return nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", cfgPath, err)
	}
	var mt string
	if err := json.Unmarshal(keys["model_type"], &mt); err != nil || mt == "" {
		return nil, fmt.Errorf("%s: no model_type (supported: %s)", cfgPath, strings.Join(Families(), ", "))
	}
	fam, ok := families[mt]
	if !ok {
		return nil, fmt.Errorf("%s: model_type %q is not supported (supported: %s)", cfgPath, mt, strings.Join(Families(), ", "))
	}
	if a, ok := keys["architectures"]; ok && string(a) != "null" {
		var archs []string
		if err := json.Unmarshal(a, &archs); err != nil {
			return nil, fmt.Errorf("%s: architectures: %v", cfgPath, err)
		}
		for _, x := range archs {
			if !contains(fam.Architectures, x) {
				return nil, fmt.Errorf("%s: architecture %q is not supported (for model_type %s: %s)",
					cfgPath, x, mt, strings.Join(fam.Architectures, ", "))
			}
		}
	}
	cfg, err := fam.Config(keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cfgPath, err)
	}
	p := &plan{dir: dir, fam: fam, cfg: cfg, src: map[string]source{}}
	if err := p.openWeights(); err != nil {
		p.close()
		return nil, err
	}
	if err := p.match(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigLen+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(b) > maxConfigLen {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigLen)
	}
	return b, nil
}

// openWeights opens model.safetensors, or every shard of the index.
func (p *plan) openWeights() error {
	single := filepath.Join(p.dir, WeightsFile)
	if _, err := os.Stat(single); err == nil {
		r, err := safetensors.Open(single)
		if err != nil {
			return oneLine(err)
		}
		p.readers = append(p.readers, r)
		return nil
	}
	idxPath := filepath.Join(p.dir, IndexFile)
	raw, err := readSmall(idxPath)
	if errors.Is(err, os.ErrNotExist) {
		for _, other := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack"} {
			if _, err := os.Stat(filepath.Join(p.dir, other)); err == nil {
				return fmt.Errorf("%s: has %s but no %s: only safetensors weights are read (convert them with transformers' save_pretrained(..., safe_serialization=True))",
					p.dir, other, WeightsFile)
			}
		}
		return fmt.Errorf("%s: no %s or %s", p.dir, WeightsFile, IndexFile)
	}
	if err != nil {
		return err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil || len(idx.WeightMap) == 0 {
		return fmt.Errorf("%s: want an object with a non-empty weight_map (%v)", idxPath, err)
	}
	shards := map[string]*safetensors.Reader{}
	var names []string
	for _, f := range idx.WeightMap {
		if _, ok := shards[f]; !ok {
			shards[f] = nil
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for _, f := range names {
		if f != filepath.Base(f) || f == "." || f == ".." || !strings.HasSuffix(f, ".safetensors") {
			return fmt.Errorf("%s: shard %q is not a .safetensors file name in the directory", idxPath, f)
		}
		r, err := safetensors.Open(filepath.Join(p.dir, f))
		if err != nil {
			return oneLine(err)
		}
		p.readers = append(p.readers, r)
		shards[f] = r
	}
	// Every tensor is where the index says, and no shard holds a tensor the
	// index does not list.
	for name, f := range idx.WeightMap {
		if _, ok := shards[f].Info(name); !ok {
			return fmt.Errorf("%s: tensor %q is not in %s, where the index puts it", idxPath, name, f)
		}
	}
	for _, f := range names {
		for _, t := range shards[f].Tensors {
			if idx.WeightMap[t.Name] != f {
				return fmt.Errorf("%s: tensor %q is not listed for this shard in %s", shards[f].Path, t.Name, IndexFile)
			}
		}
	}
	return nil
}

// match finds every table tensor among the stored ones (with or without the
// family's prefix), checks shapes and dtypes, and refuses stored tensors the
// table does not know.
func (p *plan) match() error {
	// Bound the table by the stored tensor count before building it: a
	// config claiming millions of layers fails here, not in an allocation.
	stored := 0
	for _, r := range p.readers {
		stored += len(r.Tensors)
	}
	if k := p.fam.PerLayer; k*p.cfg.L > stored {
		return fmt.Errorf("%s: n_layer %d needs %d block tensors, the weights hold %d tensors in all",
			filepath.Join(p.dir, ConfigFile), p.cfg.L, k*p.cfg.L, stored)
	}
	p.tab = p.fam.Table(p.cfg)
	want := map[string]int{}
	for i, m := range p.tab {
		want[m.HF] = i
	}
	dtypes := map[string]bool{}
	for _, r := range p.readers {
		for _, t := range r.Tensors {
			name := t.Name
			for _, pre := range p.fam.Prefixes {
				if s, ok := strings.CutPrefix(name, pre); ok {
					name = s
					break
				}
			}
			if p.fam.Buffer(name) {
				continue
			}
			i, ok := want[name]
			if !ok && name == "lm_head.weight" && p.cfg.Tied {
				if !slices.Equal(t.Shape, []int{p.cfg.V, p.cfg.C}) || !safetensors.IsFloat(t.DType) {
					return fmt.Errorf("%s: tensor %q has shape %v dtype %s, want [%d %d] F32, F16 or BF16",
						r.Path, t.Name, t.Shape, t.DType, p.cfg.V, p.cfg.C)
				}
				p.tiedDup = true
				p.src[name] = source{r, t.Name}
				continue
			}
			if !ok {
				return fmt.Errorf("%s: tensor %q is not a %s parameter (unknown name, or a layer beyond n_layer %d of %s)",
					r.Path, t.Name, p.fam.ModelType, p.cfg.L, ConfigFile)
			}
			if _, dup := p.src[name]; dup {
				return fmt.Errorf("%s: tensor %q is stored twice (with and without a prefix, or in two shards)", r.Path, t.Name)
			}
			m := p.tab[i]
			if !slices.Equal(t.Shape, m.Shape) {
				return fmt.Errorf("%s: tensor %q has shape %v, want %v (from %s: %s)",
					r.Path, t.Name, t.Shape, m.Shape, ConfigFile, p.fam.Dims(p.cfg))
			}
			if !safetensors.IsFloat(t.DType) {
				return fmt.Errorf("%s: tensor %q has dtype %s, want F32, F16 or BF16", r.Path, t.Name, t.DType)
			}
			dtypes[t.DType] = true
			p.src[name] = source{r, t.Name}
		}
	}
	for _, m := range p.tab {
		if _, ok := p.src[m.HF]; !ok {
			where := filepath.Join(p.dir, WeightsFile)
			if len(p.readers) > 1 {
				where = filepath.Join(p.dir, IndexFile)
			}
			hint := ""
			if m.HF == "lm_head.weight" {
				hint = " (config.json has tie_word_embeddings false)"
			}
			return fmt.Errorf("%s: tensor %q is missing%s", where, m.HF, hint)
		}
	}
	// Every tensor of ours is covered exactly once by the table.
	cover := map[string]int{}
	for _, m := range p.tab {
		cover[m.Ours] += numel(m.Shape)
	}
	for _, t := range model.Tensors(p.cfg) {
		if cover[t.Name] != t.Size {
			panic("hfmodel: the " + p.fam.ModelType + " table does not cover " + t.Name)
		}
	}
	switch len(dtypes) {
	case 1:
		for d := range dtypes {
			p.dtype = d
		}
	default:
		p.dtype = "mixed"
	}
	return nil
}

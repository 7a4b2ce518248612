package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/prefdata"
	"entangle/pkg/tokenizer"
)

// hfDirWithTokenizer writes a random GPT-2 directory whose tokenizer is the
// committed tiny byte-level BPE (pkg/tokenizer/testdata/tiny, 275 ids) and
// whose V is that vocabulary's size.
func hfDirWithTokenizer(t *testing.T, dir string) *tokenizer.Tokenizer {
	t.Helper()
	src := filepath.Join("..", "tokenizer", "testdata", "tiny")
	tk, err := tokenizer.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	writeHFDir(t, dir, len(tk.Vocab()), "F32")
	for _, f := range []string{"vocab.json", "merges.txt", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

// importWith tokenizes a few pairs with tk (as prefgen import -tokenizer DIR does).
func importWith(t *testing.T, tk *tokenizer.Tokenizer) *prefdata.Dataset {
	t.Helper()
	var ps []prefdata.RawPair
	for _, w := range []string{"dog", "cat", "the dog", "a bird", "The dog's"} {
		ps = append(ps, prefdata.RawPair{Prompt: "The " + w + " is", Chosen: " good", Rejected: " bad"})
	}
	c := prefdata.DefaultImportConfig()
	c.Tokenizer, c.TestFrac, c.Text, c.Identity = "tiny", 0.4, tk, prefdata.TokenizerIdentity(tk.Identity())
	d, err := prefdata.Import(context.Background(), ps, c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDatasetTokenizerRefused: -init and -ref model directories are checked
// against the tokenizer an imported dataset records; a dataset made with the
// directory's own tokenizer is accepted, one made with another (another file
// hash, another kind) is refused naming the directory, and a directory
// without a tokenizer cannot vouch for an imported dataset.
func TestDatasetTokenizerRefused(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "tiny-gpt2")
	tk := hfDirWithTokenizer(t, hf)
	d := importWith(t, tk)
	prepare := func(init, ref string, d *prefdata.Dataset) error {
		c := DefaultConfig()
		c.Init, c.Steps, c.Epochs, c.EvalEvery = init, 1, 0, 0
		if ref != "" {
			c.Mode, c.Pref = ModePref, &PrefConfig{Ref: ref, Loss: "dpo"}
			c.Pref.Params.Beta = 0.1
		}
		return Prepare(&c, d)
	}
	if err := prepare(hf, hf, d); err != nil {
		t.Fatalf("the directory's own tokenizer refused: %v", err)
	}

	// The same vocabulary with another merges.txt (another file hash).
	other := filepath.Join(dir, "other-gpt2")
	hfDirWithTokenizer(t, other)
	m, _ := os.ReadFile(filepath.Join(other, "merges.txt"))
	os.WriteFile(filepath.Join(other, "merges.txt"), append(m, "\n"...), 0o644)
	for _, tc := range []struct{ init, ref string }{{other, ""}, {hf, other}} {
		err := prepare(tc.init, tc.ref, d)
		if err == nil || !strings.HasPrefix(err.Error(), other+": ") || !strings.Contains(err.Error(), "tokenizer file merges.txt differs") {
			t.Errorf("-init %s -ref %s: err %v", tc.init, tc.ref, err)
		}
	}

	// A dataset of the same size made with the word tokenizer.
	w := *d
	w.Identity = &prefdata.TokenizerIdentity{Name: "word", Kind: prefdata.TokenizerWord, VocabSize: d.Vocab.Size()}
	if err := prepare(hf, "", &w); err == nil || !strings.Contains(err.Error(), "tokenized with the word tokenizer, the model uses tiny-gpt2 (byte-level-bpe)") {
		t.Errorf("word dataset: err %v", err)
	}

	// A directory without tokenizer files.
	bare := filepath.Join(dir, "bare")
	writeHFDir(t, bare, d.Vocab.Size(), "F32")
	if err := prepare(bare, "", d); err == nil || !strings.HasPrefix(err.Error(), bare+": the dataset was tokenized with tiny (byte-level-bpe) but the model directory's tokenizer cannot be read") {
		t.Errorf("directory without a tokenizer: err %v", err)
	}

	// Without an identity (synthetic data) only the size is checked.
	s := *d
	s.Identity = nil
	if err := prepare(bare, "", &s); err != nil {
		t.Errorf("synthetic dataset: %v", err)
	}
}

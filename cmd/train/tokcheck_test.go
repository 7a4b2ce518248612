package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/tokenizer"
)

// TestForeignTokenizer: train -init DIR (SFT, pref with -ref, dist) refuses a
// dataset imported with another tokenizer of the same vocabulary size: exit
// 1, one line naming the directory and what differs.
func TestForeignTokenizer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "pkg", "tokenizer", "testdata", "tiny")
	tk, err := tokenizer.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	// The data: imported with the tiny tokenizer.
	c := prefdata.DefaultImportConfig()
	c.Tokenizer, c.TestFrac, c.Text, c.Identity = "tiny", 0.5, tk, prefdata.TokenizerIdentity(tk.Identity())
	d, err := prefdata.Import(ctx, []prefdata.RawPair{{Prompt: "The dog", Chosen: " is good", Rejected: " is bad"},
		{Prompt: "The cat", Chosen: " sat", Rejected: " ran"}, {Prompt: "A dog", Chosen: " 123", Rejected: " 12"},
		{Prompt: "The", Chosen: " dog", Rejected: " cat"}}, c)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := prefdata.WriteStream(&b, d); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.arrows")
	os.WriteFile(data, b.Bytes(), 0o644)
	// The model: the same vocabulary size, a tokenizer with one more merge line.
	hf := filepath.Join(dir, "gpt2-other")
	cfg := model.Config{V: len(tk.Vocab()), T: 32, C: 8, L: 1, H: 2, Tied: true}
	if err := hfmodel.Write(hf, "gpt2", cfg, make([]float32, model.NumParams(cfg)), "F32"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.json", "merges.txt", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		if f == "merges.txt" {
			b = append(b, "\n"...)
		}
		os.WriteFile(filepath.Join(hf, f), b, 0o644)
	}
	for _, args := range [][]string{
		{"-mode", "sft", "-init", hf, "-steps", "1", "-out", filepath.Join(dir, "sft"), data},
		{"-mode", "pref", "-init", hf, "-ref", hf, "-steps", "1", "-out", filepath.Join(dir, "pref"), data},
		{"-mode", "dist", "-init", hf, data},
	} {
		_, stderr, code := trainCmd(t, ctx, nil, args...)
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, hf+": tokenizer file merges.txt differs") {
			t.Errorf("%s: exit %d, stderr %q", args[1], code, stderr)
		}
	}
}

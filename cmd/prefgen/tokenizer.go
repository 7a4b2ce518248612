package main

import (
	"fmt"

	"entangle/pkg/prefdata"
)

// modelTokenizer is a model directory's tokenizer as prefdata.Import uses it.
type modelTokenizer struct {
	text     prefdata.TextTokenizer
	identity prefdata.TokenizerIdentity
	chat     prefdata.ChatTemplate // nil when the directory has no chat template
}

// loadModelTokenizer loads the tokenizer of the model directory dir.
func loadModelTokenizer(dir string) (*modelTokenizer, error) {
	return nil, fmt.Errorf("-tokenizer %s: this prefgen cannot read a model directory's tokenizer yet (use word or byte)", dir)
}

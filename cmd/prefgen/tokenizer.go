package main

import (
	"entangle/pkg/prefdata"
	"entangle/pkg/tokenizer"
)

// modelTokenizer is a model directory's tokenizer as prefdata.Import uses it.
type modelTokenizer struct {
	text     prefdata.TextTokenizer
	identity prefdata.TokenizerIdentity
	chat     prefdata.ChatTemplate // nil when the directory has no chat template
}

// loadModelTokenizer loads the byte-level BPE tokenizer of the model
// directory dir (pkg/tokenizer). Its chat template, when the directory has
// one, renders message-list records; a template pkg/tokenizer does not
// support is an error at the first such record.
func loadModelTokenizer(dir string) (*modelTokenizer, error) {
	t, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	return &modelTokenizer{text: t, identity: prefdata.TokenizerIdentity(t.Identity()), chat: chatOf(t)}, nil
}

// chatOf returns t's chat template as a prefdata.ChatTemplate, or nil when
// the model has none (GPT-2).
func chatOf(t *tokenizer.Tokenizer) prefdata.ChatTemplate {
	if t.Identity().ChatTemplate == "none" {
		return nil
	}
	return func(msgs []prefdata.Message, gen bool) (string, error) {
		ms := make([]tokenizer.Message, len(msgs))
		for i, m := range msgs {
			ms[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
		}
		return t.ApplyChatTemplate(ms, gen)
	}
}

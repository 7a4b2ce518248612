package prefdata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// RawPair is one preference record as text, before tokenization.
type RawPair struct {
	Prompt, Chosen, Rejected string
}

// maxLineBytes bounds one JSONL record.
const maxLineBytes = 64 << 20

// ReadJSONL reads preference records, one JSON object per line, in the
// convention of TRL and Hugging Face preference datasets:
//
//	{"prompt": "...", "chosen": "...", "rejected": "..."}
//
// The conversational form is accepted too: each field may be a list of
// {"role": ..., "content": ...} messages. A message list is rendered as text
// by RenderMessages. When "prompt" is absent and chosen and rejected are
// message lists, the prompt is their longest common prefix of messages
// (TRL's implicit-prompt convention) and the responses are the rest.
// Blank lines are skipped. Errors name the input and the line:
// "name:LINE: what is wrong".
func ReadJSONL(r io.Reader, name string) ([]RawPair, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	var out []RawPair
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		p, err := parseRecord(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLineBytes)
		}
		return nil, fmt.Errorf("%s:%d: %v", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty input: no records", name)
	}
	return out, nil
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func parseRecord(b []byte) (RawPair, error) {
	if !utf8.Valid(b) {
		return RawPair{}, fmt.Errorf("not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return RawPair{}, fmt.Errorf("bad JSON: %v", err)
	}
	var p RawPair
	chosen, cMsgs, err := field(obj, "chosen")
	if err != nil {
		return p, err
	}
	rejected, rMsgs, err := field(obj, "rejected")
	if err != nil {
		return p, err
	}
	if _, ok := obj["prompt"]; !ok {
		if cMsgs == nil || rMsgs == nil {
			return p, fmt.Errorf("missing field \"prompt\"")
		}
		k := 0
		for k < len(cMsgs) && k < len(rMsgs) && cMsgs[k] == rMsgs[k] {
			k++
		}
		if k == 0 || k == len(cMsgs) || k == len(rMsgs) {
			return p, fmt.Errorf("missing field \"prompt\", and chosen and rejected have no common prompt messages followed by a response")
		}
		p.Prompt = RenderMessages(cMsgs[:k])
		p.Chosen = RenderMessages(cMsgs[k:])
		p.Rejected = RenderMessages(rMsgs[k:])
	} else {
		prompt, _, err := field(obj, "prompt")
		if err != nil {
			return p, err
		}
		p.Prompt, p.Chosen, p.Rejected = prompt, chosen, rejected
	}
	for _, f := range []struct{ n, v string }{{"prompt", p.Prompt}, {"chosen", p.Chosen}, {"rejected", p.Rejected}} {
		if strings.TrimSpace(f.v) == "" {
			return p, fmt.Errorf("field %q is empty", f.n)
		}
	}
	return p, nil
}

// field returns a text field, either a string or a message list (then also
// the messages).
func field(obj map[string]json.RawMessage, k string) (string, []Message, error) {
	raw, ok := obj[k]
	if !ok {
		return "", nil, fmt.Errorf("missing field %q", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil, nil
	}
	var msgs []Message
	if err := json.Unmarshal(raw, &msgs); err != nil || len(msgs) == 0 {
		return "", nil, fmt.Errorf("field %q must be a string or a non-empty list of {\"role\", \"content\"} messages", k)
	}
	for i, m := range msgs {
		if m.Role == "" {
			return "", nil, fmt.Errorf("field %q: message %d has no role", k, i)
		}
	}
	if len(msgs) == 1 && msgs[0].Role == "assistant" && k != "prompt" {
		return msgs[0].Content, msgs, nil
	}
	return RenderMessages(msgs), msgs, nil
}

// RenderMessages renders a conversation as text: one "role: content" line per
// message. A lone assistant message given as a response is its content only.
func RenderMessages(msgs []Message) string {
	if len(msgs) == 1 && msgs[0].Role == "assistant" {
		return msgs[0].Content
	}
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.Role)
		b.WriteString(": ")
		b.WriteString(m.Content)
	}
	return b.String()
}

// jsonlRecord is one line of WriteJSONL.
type jsonlRecord struct {
	ID       int64  `json:"id"`
	Split    string `json:"split"`
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
}

// WriteJSONL exports d in the prompt/chosen/rejected JSONL convention, one
// record per example, decoding tokens with the dataset's tokenizer (see
// Decode). It adds the example's id and split.
func WriteJSONL(w io.Writer, d *Dataset) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range d.Examples {
		e := &d.Examples[i]
		rec := jsonlRecord{ID: e.ID, Split: e.Split,
			Prompt: Decode(d, e.Prompt), Chosen: Decode(d, e.Chosen), Rejected: Decode(d, e.Rejected)}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return nil
}

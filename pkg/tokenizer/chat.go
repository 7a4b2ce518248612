package tokenizer

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Chat templates are recognised, not interpreted: a template is put in a
// canonical form (string literals decoded and re-quoted, white space outside
// literals dropped, x['name'] written x.name, comments dropped, text outside
// tags kept) and compared with the canonical form of each known template.
// A known template may leave one hole, a default system message, which is
// read from the template.

// systemHole marks the default system message in a known template.
const systemHole = "@@DEFAULT_SYSTEM_MESSAGE@@"

// knownTemplates are the templates of the supported families, as their
// tokenizer_config.json files spell them.
var knownTemplates = []struct {
	family string
	src    string
	// defaultSystem: the template injects a system turn when the first
	// message is not one; alwaysPrompt: the generation prompt is always
	// added (the base Llama-3 template ignores add_generation_prompt).
	defaultSystem, alwaysPrompt bool
}{
	{family: "chatml", src: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"},
	{family: "chatml", defaultSystem: true, src: "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n" + systemHole + "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"},
	{family: "llama3", src: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"},
	{family: "llama3", alwaysPrompt: true, src: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"},
}

// chatTemplate is a recognised template.
type chatTemplate struct {
	family       string // "chatml" or "llama3"
	system       string // default system message, if hasSystem
	hasSystem    bool
	alwaysPrompt bool
	bos          string // Llama-3: the bos_token the template prepends
}

// setTemplate recognises src (empty: no template).
func (t *Tokenizer) setTemplate(src string) {
	if src == "" {
		t.templateErr = errors.New("tokenizer: the model has no chat template (tokenizer_config.json has no chat_template)")
		return
	}
	c, err := canonTemplate(src)
	if err != nil {
		t.templateErr = fmt.Errorf("tokenizer: chat_template: %v", err)
		return
	}
	for _, k := range knownTemplates {
		kc, err := canonTemplate(k.src)
		if err != nil {
			panic("tokenizer: bad known template: " + err.Error())
		}
		ct := &chatTemplate{family: k.family, alwaysPrompt: k.alwaysPrompt}
		if k.defaultSystem {
			pre, suf, _ := strings.Cut(kc, systemHole)
			if len(c) < len(pre)+len(suf) || !strings.HasPrefix(c, pre) || !strings.HasSuffix(c, suf) {
				continue
			}
			sys, err := strconv.Unquote(`"` + c[len(pre):len(c)-len(suf)] + `"`)
			if err != nil {
				continue
			}
			ct.system, ct.hasSystem = sys, true
		} else if c != kc {
			continue
		}
		if k.family == "llama3" {
			if t.bosToken == "" {
				t.templateErr = errors.New("tokenizer: the Llama-3 chat template needs a bos_token, which tokenizer_config.json does not name")
				return
			}
			ct.bos = t.bosToken
		}
		t.template = ct
		return
	}
	head := src
	if len(head) > 60 {
		head = head[:60] + "…"
	}
	t.templateErr = fmt.Errorf("tokenizer: chat_template %q is not a supported template (supported: ChatML as SmolLM2 and Qwen2 write it, Llama-3's)", head)
}

// ApplyChatTemplate renders a conversation with the model's chat template,
// as transformers' apply_chat_template(msgs, tokenize=False,
// add_generation_prompt=addGenerationPrompt) does. The result holds the
// special tokens as text: encode it with EncodeSpecial. Supported templates:
//
//	family  rendering of one message                                   generation prompt
//	chatml  <|im_start|>ROLE\nCONTENT<|im_end|>\n                         <|im_start|>assistant\n
//	        (+ <|im_start|>system\nDEFAULT<|im_end|>\n before the first message when the
//	        template has a default system message and the first role is not "system")
//	llama3  <|start_header_id|>ROLE<|end_header_id|>\n\nTRIM(CONTENT)<|eot_id|>   <|start_header_id|>assistant<|end_header_id|>\n\n
//	        (bos_token before the first message; TRIM strips white space as Python's str.strip;
//	        the base model's template adds the prompt whatever addGenerationPrompt says)
//
// A model without a template (GPT-2), or with another template, gives an error.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	ct := t.template
	if ct == nil {
		return "", t.templateErr
	}
	var b strings.Builder
	switch ct.family {
	case "chatml":
		for i, m := range msgs {
			if i == 0 && ct.hasSystem && m.Role != "system" {
				b.WriteString("<|im_start|>system\n" + ct.system + "<|im_end|>\n")
			}
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|im_start|>assistant\n")
		}
	case "llama3":
		for i, m := range msgs {
			if i == 0 {
				b.WriteString(ct.bos)
			}
			b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + pyStrip(m.Content) + "<|eot_id|>")
		}
		if addGenerationPrompt || ct.alwaysPrompt {
			b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	}
	return b.String(), nil
}

// pyStrip is Python's str.strip(): it removes leading and trailing runes
// for which str.isspace is true (Unicode White_Space plus U+001C..U+001F).
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
	})
}

var subscript = regexp.MustCompile(`\["([A-Za-z_][A-Za-z0-9_]*)"\]`)

// canonTemplate returns the canonical form of a Jinja template: tags with
// their code (string literals decoded and re-quoted, white space dropped,
// x["name"] written x.name) and the text between them as the template
// outputs it under transformers' Jinja settings (trim_blocks: the newline
// after a block or comment tag is dropped; lstrip_blocks: spaces and tabs
// before a block or comment tag at the start of a line are dropped) and the
// whitespace control of "{%-" and "-%}", and without the one newline that
// ends the template (keep_trailing_newline is off). Comments are dropped.
func canonTemplate(src string) (string, error) {
	if strings.HasSuffix(src, "\r\n") {
		src = src[:len(src)-2]
	} else {
		src = strings.TrimSuffix(src, "\n")
	}
	type seg struct {
		text           string // a text segment (open == "")
		open, code     string // a tag: "{{", "{%" or "{#", and its canonical code
		lstrip, rstrip bool   // "{%-" and "-%}"
	}
	var segs []seg
	for len(src) > 0 {
		i := strings.Index(src, "{")
		for i >= 0 && i+1 < len(src) && !strings.ContainsRune("{%#", rune(src[i+1])) {
			j := strings.Index(src[i+1:], "{")
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 || i+1 >= len(src) {
			segs = append(segs, seg{text: src})
			break
		}
		if i > 0 {
			segs = append(segs, seg{text: src[:i]})
		}
		g := seg{open: src[i : i+2]}
		closer := map[string]string{"{{": "}}", "{%": "%}", "{#": "#}"}[g.open]
		src = src[i+2:]
		if strings.HasPrefix(src, "-") {
			g.lstrip = true
			src = src[1:]
		}
		var code strings.Builder
		closed := false
		for len(src) > 0 {
			c := src[0]
			if g.open == "{#" {
				if strings.HasPrefix(src, "-#}") || strings.HasPrefix(src, "#}") {
					g.rstrip = c == '-'
					src = src[strings.Index(src, "#}")+2:]
					closed = true
					break
				}
				src = src[1:]
				continue
			}
			if c == '\'' || c == '"' {
				lit, n, err := jinjaString(src)
				if err != nil {
					return "", err
				}
				code.WriteString(strconv.Quote(lit))
				src = src[n:]
				continue
			}
			if strings.HasPrefix(src, "-"+closer) || strings.HasPrefix(src, closer) {
				g.rstrip = c == '-'
				src = src[strings.Index(src, closer)+2:]
				closed = true
				break
			}
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				code.WriteByte(c)
			}
			src = src[1:]
		}
		if !closed {
			return "", fmt.Errorf("unterminated %s", g.open)
		}
		g.code = subscript.ReplaceAllString(code.String(), ".$1")
		segs = append(segs, g)
	}
	// White space around tags: first what the tag after a text removes
	// (lstrip_blocks looks at the template as written), then what the tag
	// before it removes.
	for k := 1; k < len(segs); k++ {
		g, prev := &segs[k], &segs[k-1]
		if g.open == "" || prev.open != "" {
			continue
		}
		if g.lstrip {
			prev.text = strings.TrimRight(prev.text, " \t\n\r")
		} else if g.open != "{{" {
			nl := strings.LastIndexByte(prev.text, '\n')
			if line := prev.text[nl+1:]; strings.Trim(line, " \t") == "" && (nl >= 0 || k == 1) {
				prev.text = prev.text[:nl+1]
			}
		}
	}
	for k := 0; k+1 < len(segs); k++ {
		g, next := &segs[k], &segs[k+1]
		if g.open == "" || next.open != "" {
			continue
		}
		if g.rstrip {
			next.text = strings.TrimLeft(next.text, " \t\n\r")
		} else if g.open != "{{" {
			next.text = strings.TrimPrefix(next.text, "\n")
		}
	}
	var out strings.Builder
	for _, g := range segs {
		switch {
		case g.open == "" && g.text != "":
			out.WriteString("TEXT" + strconv.Quote(g.text))
		case g.open == "{{" || g.open == "{%":
			out.WriteString(g.open + g.code + map[string]string{"{{": "}}", "{%": "%}"}[g.open])
		}
	}
	return out.String(), nil
}

// jinjaString decodes the string literal at the start of s and returns it
// and its length in s.
func jinjaString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated string literal")
}

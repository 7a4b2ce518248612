package prefdata

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// Record formats of prefgen import's -format flag. Auto recognises each
// record's shape from its fields (see ReadRecords).
const (
	FormatAuto          = "auto"
	FormatHH            = "hh"                 // Anthropic/hh-rlhf transcripts
	FormatTRL           = "trl"                // TRL preference records, explicit or implicit prompt
	FormatUltraFeedback = "ultrafeedback"      // string prompt, message-list responses repeating it
	FormatTLDR          = "tldr"               // prompt/chosen/rejected strings (CarperAI's TL;DR)
	FormatSummarize     = "summarize-feedback" // openai/summarize_from_feedback comparisons
)

// RecordFormats lists the values of -format.
var RecordFormats = []string{FormatAuto, FormatHH, FormatTRL, FormatUltraFeedback, FormatTLDR, FormatSummarize}

// Record shapes, as detected (ReadStats.Shape).
const (
	shapeTRLImplicit = "trl-implicit" // chosen and rejected without a prompt
)

// hhAssistant is the turn marker of HH-RLHF transcripts; the prompt ends
// with the last one (the DPO reference implementation's convention).
const (
	hhHuman     = "\n\nHuman:"
	hhAssistant = "\n\nAssistant:"
)

// RawPair is one preference record as text, before tokenization.
type RawPair struct {
	Prompt, Chosen, Rejected string

	// The messages, when the record's fields were message lists (after the
	// prompt was extracted: ChosenMsgs and RejectedMsgs are the responses
	// only). Prompt, Chosen and Rejected then hold the plain rendering
	// (RenderMessages); Import renders the messages again with a chat
	// template when it has one.
	PromptMsgs, ChosenMsgs, RejectedMsgs []Message

	// Pos is the record's position in its input, for messages: the line
	// number of a JSONL record, "row N" of a parquet row.
	Pos string
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// RecordError is a record that cannot be used: "name:pos: what is wrong".
// ReadOptions.SkipInvalid skips such records; other errors (a shape that
// differs from the first record's, unreadable input) always stop the reading.
type RecordError struct {
	Name, Pos string
	Err       error
}

func (e *RecordError) Error() string { return e.Name + ":" + e.Pos + ": " + e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

// ReadOptions configures ReadRecords.
type ReadOptions struct {
	Format      string // one of RecordFormats; "" is auto
	SkipInvalid bool   // skip (and count) records that cannot be used instead of failing

	// Parquet reads the rows of a parquet input (pqrows.Rows, which links
	// the parquet library); nil refuses parquet input.
	Parquet ParquetRows
}

// ReaderAtSeeker is the random access parquet input needs.
type ReaderAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// ParquetRows calls fn with each row of the parquet file r whose top-level
// columns are among columns, as a JSON object, or with the row's error; see
// pqrows.Rows.
type ParquetRows func(ctx context.Context, r ReaderAtSeeker, columns []string, fn func(obj map[string]json.RawMessage, row int, err error) error) error

// recordColumns are the parquet columns a preference record is read from.
var recordColumns = []string{"prompt", "chosen", "rejected", "info", "summaries", "choice"}

// readParquet reads the rows of a parquet file as records, through the same
// parser as JSONL lines. Positions are "row N".
func (rd *recordReader) readParquet(r ReaderAtSeeker) error {
	if rd.opt.Parquet == nil {
		return fmt.Errorf("%s: parquet input is not supported here", rd.name)
	}
	err := rd.opt.Parquet(rd.ctx, r, recordColumns, func(obj map[string]json.RawMessage, row int, err error) error {
		return rd.add(obj, fmt.Sprintf("row %d", row), err)
	})
	if err != nil && !strings.HasPrefix(err.Error(), rd.name+":") && rd.ctx.Err() == nil {
		return fmt.Errorf("%s: %v", rd.name, err)
	}
	return err
}

// ReadStats describes what ReadRecords read.
type ReadStats struct {
	Container string   `json:"container"`         // jsonl, jsonl.gz or parquet
	Shape     string   `json:"shape"`             // the records' shape: hh, trl, trl-implicit, ultrafeedback, tldr, summarize-feedback
	Records   int      `json:"records"`           // records returned
	Skipped   int      `json:"skipped"`           // records skipped (SkipInvalid)
	SkipLog   []string `json:"skip_log,omitzero"` // the first skipped records' errors
}

// maxLineBytes bounds one JSONL record.
const maxLineBytes = 64 << 20

// maxSkipLog is the number of skipped records whose errors are kept.
const maxSkipLog = 5

var (
	gzipMagic    = []byte{0x1f, 0x8b}
	parquetMagic = []byte("PAR1")
	utf8BOM      = []byte{0xEF, 0xBB, 0xBF}
)

// ReadJSONL reads preference records of any supported shape from r (JSONL,
// gzip-compressed JSONL or parquet): ReadRecords with the auto format.
func ReadJSONL(r io.Reader, name string) ([]RawPair, error) {
	p, _, err := ReadRecords(context.Background(), r, name, ReadOptions{})
	return p, err
}

// ReadRecords reads preference records from r, named name in messages.
//
// The container is recognised from the first bytes, whatever the name: gzip
// (1f 8b, decompressed first), parquet ("PAR1"; columns by name, message
// lists as list<struct<role, content>>), otherwise JSON lines (a leading
// UTF-8 byte-order mark is accepted; blank lines are skipped).
//
// Record shapes, chosen by opt.Format or, for auto, from each record's fields:
//
//	info, summaries, choice              summarize-feedback: prompt "SUBREDDIT: r/…\nTITLE: …\nPOST: …\nTL;DR:",
//	                                     chosen = summaries[choice].text, rejected = the other summary
//	prompt (string), chosen, rejected    trl (tldr when named): the fields as they are
//	  as message lists                   ultrafeedback: the string prompt is dropped and the prompt is
//	                                     extracted from the message lists (TRL's maybe_extract_prompt)
//	chosen, rejected transcripts with    hh: the prompt is chosen up to and including its last
//	  "\n\nHuman:" and "\n\nAssistant:"  "\n\nAssistant:"; rejected must begin with the same prompt
//	chosen, rejected (no prompt)         trl-implicit: TRL's extract_prompt (ExtractPrompt)
//
// All records of an input must have one shape. Errors name the input and
// the position: "name:LINE: what is wrong" ("name:row N: …" for parquet).
func ReadRecords(ctx context.Context, r io.Reader, name string, opt ReadOptions) ([]RawPair, ReadStats, error) {
	if opt.Format == "" {
		opt.Format = FormatAuto
	}
	if !validFormat(opt.Format) {
		return nil, ReadStats{}, fmt.Errorf("unknown record format %q (%s)", opt.Format, strings.Join(RecordFormats, ", "))
	}
	rd := &recordReader{ctx: ctx, name: name, opt: opt}
	if err := rd.readContainer(r, false); err != nil {
		return nil, rd.stats, err
	}
	if len(rd.out) == 0 {
		if rd.stats.Skipped > 0 {
			return nil, rd.stats, fmt.Errorf("%s: no usable records (%d skipped; first: %s)", name, rd.stats.Skipped, rd.stats.SkipLog[0])
		}
		return nil, rd.stats, fmt.Errorf("%s: empty input: no records", name)
	}
	rd.stats.Records = len(rd.out)
	return rd.out, rd.stats, nil
}

func validFormat(f string) bool {
	for _, g := range RecordFormats {
		if f == g {
			return true
		}
	}
	return false
}

// recordReader accumulates the records of one input.
type recordReader struct {
	ctx      context.Context
	name     string
	opt      ReadOptions
	out      []RawPair
	stats    ReadStats
	firstPos string // position of the first record, which fixes the shape
}

// readContainer recognises the container of r and reads its records.
func (rd *recordReader) readContainer(r io.Reader, gzipped bool) error {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic) && !gzipped:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %v", rd.name, err) // "gzip: invalid header"
		}
		defer gz.Close()
		return rd.readContainer(gzipErrs{gz}, true)
	case bytes.HasPrefix(head, parquetMagic):
		rd.stats.Container = "parquet"
		// Parquet needs random access: a file as it is, anything else
		// (standard input, a decompressed stream) read into memory.
		if f, ok := r.(ReaderAtSeeker); ok && !gzipped {
			return rd.readParquet(f)
		}
		all, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("%s: %v", rd.name, err)
		}
		return rd.readParquet(bytes.NewReader(all))
	}
	rd.stats.Container = "jsonl"
	if gzipped {
		rd.stats.Container = "jsonl.gz"
	}
	return rd.readJSONL(br)
}

// gzipErrs says "gzip:" in the errors of decompression.
type gzipErrs struct{ r io.Reader }

func (g gzipErrs) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// readErrs remembers the first error of reading (other than EOF), so that
// the last, partial line before it is reported as that error rather than as
// bad JSON.
type readErrs struct {
	r   io.Reader
	err error
}

func (e *readErrs) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (rd *recordReader) readJSONL(r io.Reader) error {
	re := &readErrs{r: r}
	sc := bufio.NewScanner(re)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		if line%1024 == 0 {
			if err := rd.ctx.Err(); err != nil {
				return err
			}
		}
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		pos := strconv.Itoa(line)
		var obj map[string]json.RawMessage
		var err error
		if !utf8.Valid(b) {
			err = fmt.Errorf("not valid UTF-8")
		} else if err = json.Unmarshal(b, &obj); err != nil {
			err = fmt.Errorf("bad JSON: %v", err)
		}
		if err := rd.add(obj, pos, err); err != nil {
			if re.err != nil {
				return fmt.Errorf("%s:%d: %v", rd.name, line, re.err)
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return fmt.Errorf("%s:%d: line longer than %d bytes", rd.name, line+1, maxLineBytes)
		}
		return fmt.Errorf("%s:%d: %v", rd.name, line+1, err)
	}
	return nil
}

// add parses one record (or takes the error of reading it) and appends it,
// or skips it when the options say so.
func (rd *recordReader) add(obj map[string]json.RawMessage, pos string, err error) error {
	var p RawPair
	var shape string
	if err == nil {
		p, shape, err = parseRecord(obj, rd.opt.Format)
	}
	if err == nil && rd.stats.Shape != "" && shape != rd.stats.Shape {
		return fmt.Errorf("%s:%s: a %s record after %s records (from %s): an input holds one record shape", rd.name, pos, shape, rd.stats.Shape, rd.firstPos)
	}
	if err != nil {
		err = &RecordError{Name: rd.name, Pos: pos, Err: err}
		if !rd.opt.SkipInvalid {
			return err
		}
		rd.stats.Skipped++
		if len(rd.stats.SkipLog) < maxSkipLog {
			rd.stats.SkipLog = append(rd.stats.SkipLog, err.Error())
		}
		return nil
	}
	if rd.stats.Shape == "" {
		rd.stats.Shape, rd.firstPos = shape, pos
	}
	p.Pos = pos
	rd.out = append(rd.out, p)
	return nil
}

// parseRecord turns one record into a pair, by the named format or, for
// auto, by the record's shape (see ReadRecords). It returns the shape.
func parseRecord(obj map[string]json.RawMessage, format string) (RawPair, string, error) {
	if obj == nil {
		return RawPair{}, "", fmt.Errorf("bad JSON: a record must be an object")
	}
	shape := format
	switch format {
	case FormatAuto:
		var err error
		if shape, err = detectShape(obj); err != nil {
			return RawPair{}, "", err
		}
	case FormatTRL:
		shape = FormatTRL
		if _, ok := obj["prompt"]; !ok {
			shape = shapeTRLImplicit
		} else if isString(obj["prompt"]) && isMessages(obj["chosen"]) {
			shape = FormatUltraFeedback
		}
	}
	var p RawPair
	var err error
	switch shape {
	case FormatSummarize:
		p, err = parseSummarize(obj)
	case FormatHH:
		p, err = parseHH(obj)
	case FormatTLDR:
		p, err = parseStrings(obj)
	case FormatUltraFeedback:
		if !isString(obj["prompt"]) || !isMessages(obj["chosen"]) || !isMessages(obj["rejected"]) {
			return p, shape, fmt.Errorf("an UltraFeedback record has a string \"prompt\" and message lists \"chosen\" and \"rejected\"")
		}
		p, err = parseTRL(obj, true)
	default: // trl, trl-implicit
		p, err = parseTRL(obj, false)
	}
	if err != nil {
		return p, shape, err
	}
	for _, f := range []struct{ n, v string }{{"prompt", p.Prompt}, {"chosen", p.Chosen}, {"rejected", p.Rejected}} {
		if strings.TrimSpace(f.v) == "" {
			return p, shape, fmt.Errorf("field %q is empty", f.n)
		}
	}
	return p, shape, nil
}

// detectShape recognises a record's shape from its fields.
func detectShape(obj map[string]json.RawMessage) (string, error) {
	_, hasInfo := obj["info"]
	_, hasSummaries := obj["summaries"]
	_, hasPrompt := obj["prompt"]
	_, hasChosen := obj["chosen"]
	_, hasRejected := obj["rejected"]
	switch {
	case hasInfo && hasSummaries:
		return FormatSummarize, nil
	case !hasChosen && !hasRejected:
		return "", fmt.Errorf("unrecognised record: expected \"chosen\" and \"rejected\" (with or without \"prompt\"), or \"info\", \"summaries\" and \"choice\"")
	case hasPrompt && isString(obj["prompt"]) && isMessages(obj["chosen"]):
		return FormatUltraFeedback, nil
	case hasPrompt:
		return FormatTRL, nil
	}
	var c, r string
	if json.Unmarshal(obj["chosen"], &c) == nil && json.Unmarshal(obj["rejected"], &r) == nil &&
		isHH(c) && isHH(r) {
		return FormatHH, nil
	}
	return shapeTRLImplicit, nil
}

func isHH(s string) bool { return strings.Contains(s, hhHuman) && strings.Contains(s, hhAssistant) }

func isString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '"'
}

func isMessages(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '['
}

// field returns a text field: a string, or a message list (msgs non-nil).
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
	return "", msgs, nil
}

// stringField returns a field that must be a string.
func stringField(obj map[string]json.RawMessage, k string) (string, error) {
	raw, ok := obj[k]
	if !ok {
		return "", fmt.Errorf("missing field %q", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("field %q must be a string", k)
	}
	return s, nil
}

// parseStrings reads prompt, chosen and rejected strings (TL;DR).
func parseStrings(obj map[string]json.RawMessage) (RawPair, error) {
	var p RawPair
	var err error
	if p.Prompt, err = stringField(obj, "prompt"); err != nil {
		return p, err
	}
	if p.Chosen, err = stringField(obj, "chosen"); err != nil {
		return p, err
	}
	p.Rejected, err = stringField(obj, "rejected")
	return p, err
}

// parseTRL reads a TRL preference record. With an explicit prompt of the
// same kind as the responses (strings, or message lists), the fields are
// taken as they are. Otherwise the prompt is implicit in chosen and rejected
// and extracted as TRL's maybe_extract_prompt does: a string prompt next to
// message-list responses (UltraFeedback) is dropped, because the responses
// repeat it as their leading user turn.
func parseTRL(obj map[string]json.RawMessage, dropPrompt bool) (RawPair, error) {
	var p RawPair
	c, cm, err := field(obj, "chosen")
	if err != nil {
		return p, err
	}
	r, rm, err := field(obj, "rejected")
	if err != nil {
		return p, err
	}
	if (cm == nil) != (rm == nil) {
		return p, fmt.Errorf("chosen and rejected must both be strings or both message lists")
	}
	if _, ok := obj["prompt"]; ok && !dropPrompt {
		s, pm, err := field(obj, "prompt")
		if err != nil {
			return p, err
		}
		if (pm == nil) == (cm == nil) {
			p.Prompt, p.Chosen, p.Rejected = s, c, r
			if pm != nil {
				p.PromptMsgs, p.ChosenMsgs, p.RejectedMsgs = pm, cm, rm
				p.Prompt, p.Chosen, p.Rejected = RenderMessages(pm), RenderMessages(cm), RenderMessages(rm)
			}
			return p, nil
		}
	}
	if cm == nil {
		prompt, chosen, rejected, err := ExtractPrompt(c, r)
		if err != nil {
			return p, err
		}
		p.Prompt, p.Chosen, p.Rejected = prompt, chosen, rejected
		return p, nil
	}
	k, err := commonMessages(cm, rm)
	if err != nil {
		return p, err
	}
	p.PromptMsgs, p.ChosenMsgs, p.RejectedMsgs = cm[:k], cm[k:], rm[k:]
	p.Prompt, p.Chosen, p.Rejected = RenderMessages(cm[:k]), RenderMessages(cm[k:]), RenderMessages(rm[k:])
	return p, nil
}

// ExtractPrompt splits two strings that share an implicit prompt, by TRL's
// extract_prompt rule: the prompt ends where the strings first differ
// (compared by characters), one character earlier when the character before
// is a space (so the space begins both responses). When neither string
// differs from the other within the shorter one's length, TRL's loop ends on
// its last index: the prompt is all but the last character of the shorter
// string. Strings that differ at their first character have no prompt.
func ExtractPrompt(chosen, rejected string) (prompt, c, r string, err error) {
	cr, rr := []rune(chosen), []rune(rejected)
	n := min(len(cr), len(rr))
	idx := n - 1
	for i := 0; i < n; i++ {
		if cr[i] != rr[i] {
			idx = i
			if i > 0 && cr[i-1] == ' ' {
				idx--
			}
			break
		}
	}
	if idx <= 0 {
		return "", "", "", fmt.Errorf("no prompt field, and chosen and rejected have no common beginning to take as the prompt")
	}
	return string(cr[:idx]), string(cr[idx:]), string(rr[idx:]), nil
}

// commonMessages returns the number of leading messages chosen and rejected
// share, by TRL's extract_prompt rule on message lists (see ExtractPrompt).
func commonMessages(c, r []Message) (int, error) {
	n := min(len(c), len(r))
	k := n - 1
	for i := 0; i < n; i++ {
		if c[i] != r[i] {
			k = i
			break
		}
	}
	if k <= 0 {
		return 0, fmt.Errorf("chosen and rejected have no common leading messages to take as the prompt")
	}
	return k, nil
}

// parseHH splits an HH-RLHF record: the prompt is chosen up to and including
// its last "\n\nAssistant:" (the DPO reference implementation's rule), and
// rejected must begin with the same prompt.
func parseHH(obj map[string]json.RawMessage) (RawPair, error) {
	var p RawPair
	if _, ok := obj["prompt"]; ok {
		return p, fmt.Errorf("HH-RLHF records have no \"prompt\" field (use -format trl)")
	}
	c, err := stringField(obj, "chosen")
	if err != nil {
		return p, err
	}
	r, err := stringField(obj, "rejected")
	if err != nil {
		return p, err
	}
	i := strings.LastIndex(c, hhAssistant)
	if i < 0 {
		return p, fmt.Errorf("chosen has no %q turn", hhAssistant)
	}
	prompt := c[:i+len(hhAssistant)]
	if !strings.HasPrefix(r, prompt) {
		at := 0
		for at < len(prompt) && at < len(r) && r[at] == prompt[at] {
			at++
		}
		return p, fmt.Errorf("chosen and rejected differ at byte %d, before chosen's last %q (byte %d): no common prompt", at, hhAssistant, i)
	}
	p.Prompt, p.Chosen, p.Rejected = prompt, c[len(prompt):], r[len(prompt):]
	return p, nil
}

// summarizeRecord is an openai/summarize_from_feedback comparison.
type summarizeRecord struct {
	Info struct {
		Post      *string `json:"post"`
		Title     *string `json:"title"`
		Subreddit *string `json:"subreddit"`
	} `json:"info"`
	Summaries []struct {
		Text *string `json:"text"`
	} `json:"summaries"`
	Choice *int `json:"choice"`
}

// parseSummarize builds the TL;DR prompt of a comparison and takes the
// chosen summary summaries[choice] and the other one.
func parseSummarize(obj map[string]json.RawMessage) (RawPair, error) {
	var p RawPair
	b, _ := json.Marshal(obj)
	var s summarizeRecord
	if err := json.Unmarshal(b, &s); err != nil {
		return p, fmt.Errorf("not a summarize_from_feedback comparison: %v", err)
	}
	switch {
	case s.Info.Post == nil:
		return p, fmt.Errorf("info has no \"post\" (only Reddit TL;DR comparisons are supported)")
	case s.Info.Title == nil || s.Info.Subreddit == nil:
		return p, fmt.Errorf("info needs \"title\" and \"subreddit\"")
	case len(s.Summaries) != 2 || s.Summaries[0].Text == nil || s.Summaries[1].Text == nil:
		return p, fmt.Errorf("summaries must be two objects with a \"text\"")
	case s.Choice == nil || (*s.Choice != 0 && *s.Choice != 1):
		return p, fmt.Errorf("choice must be 0 or 1")
	}
	p.Prompt = SummarizePrompt(*s.Info.Subreddit, *s.Info.Title, *s.Info.Post)
	p.Chosen, p.Rejected = *s.Summaries[*s.Choice].Text, *s.Summaries[1-*s.Choice].Text
	return p, nil
}

// SummarizePrompt is the TL;DR prompt of a Reddit post, as in the CarperAI
// comparisons: "SUBREDDIT: r/…\nTITLE: …\nPOST: …\nTL;DR:".
func SummarizePrompt(subreddit, title, post string) string {
	return "SUBREDDIT: r/" + subreddit + "\nTITLE: " + title + "\nPOST: " + post + "\nTL;DR:"
}

// RenderMessages renders a conversation as text: one "role: content" line per
// message. A lone assistant message is its content only.
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

// respSep returns what WriteJSONL puts between a prompt and its response:
// a space for datasets of words (their tokens are joined by spaces), ""
// for byte and BPE datasets (their decoding is the exact text).
func respSep(d *Dataset) string {
	if d.Tokenizer == TokenizerByte || d.Tokenizer == TokenizerBPE {
		return ""
	}
	return " "
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
//
// Words (synthetic data, the word tokenizer) are joined by spaces, and a
// response continues its prompt: it begins with the space that separates
// them (respSep), so that prompt + response is the text of the whole
// sequence. A byte-level BPE (GPT-2's and its descendants') tokenizes a
// word after a space as one token (" good", Ġgood) and the same word at the
// start of a text as another ("good"); prefgen import, like TRL, tokenizes
// the response on its own, so without the space a response's first token
// would be one the model never sees after a prompt. Byte and BPE datasets
// decode to their exact text and get nothing added.
func WriteJSONL(w io.Writer, d *Dataset) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sep := respSep(d)
	for i := range d.Examples {
		e := &d.Examples[i]
		rec := jsonlRecord{ID: e.ID, Split: e.Split,
			Prompt: Decode(d, e.Prompt), Chosen: sep + Decode(d, e.Chosen), Rejected: sep + Decode(d, e.Rejected)}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return nil
}

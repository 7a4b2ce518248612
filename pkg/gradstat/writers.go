package gradstat

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// FormatVersion is the format_version of gradstat's Arrow output.
const FormatVersion = "1"

// FormatName returns the format metadata value of a gradstat table,
// "entangle.gradstat.<table>".
func FormatName(table string) string { return "entangle.gradstat." + table }

func arrowType(t Type) arrow.DataType {
	switch t {
	case Int:
		return arrow.PrimitiveTypes.Int64
	case Float:
		return arrow.PrimitiveTypes.Float64
	case String:
		return arrow.BinaryTypes.String
	default:
		return arrow.FixedWidthTypes.Boolean
	}
}

// Schema returns the Arrow schema of a table with the given metadata.
func Schema(cols []Column, meta map[string]string) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true}
	}
	md := arrow.MetadataFrom(meta)
	return arrow.NewSchema(fields, &md)
}

type arrowSink struct {
	schema *arrow.Schema
	mem    memory.Allocator
	w      interface {
		Write(arrow.Record) error
		Close() error
	}
}

// NewArrowStreamSink returns a Sink writing an Arrow IPC stream to w, one
// record batch per Write.
func NewArrowStreamSink(w io.Writer, cols []Column, meta map[string]string) Sink {
	s := &arrowSink{schema: Schema(cols, meta), mem: memory.NewGoAllocator()}
	s.w = ipc.NewWriter(w, ipc.WithSchema(s.schema), ipc.WithAllocator(s.mem))
	return s
}

// NewArrowFileSink returns a Sink writing an Arrow IPC file to w (the footer
// is written by Close).
func NewArrowFileSink(w io.WriteSeeker, cols []Column, meta map[string]string) (Sink, error) {
	s := &arrowSink{schema: Schema(cols, meta), mem: memory.NewGoAllocator()}
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(s.schema), ipc.WithAllocator(s.mem))
	if err != nil {
		return nil, err
	}
	s.w = fw
	return s, nil
}

func (s *arrowSink) Write(b *Batch) error {
	if b.N == 0 {
		return nil
	}
	rb := array.NewRecordBuilder(s.mem, s.schema)
	defer rb.Release()
	for c, col := range b.Cols {
		valid := b.Valid[c]
		switch col.Type {
		case Int:
			rb.Field(c).(*array.Int64Builder).AppendValues(b.Ints[c], valid)
		case Float:
			rb.Field(c).(*array.Float64Builder).AppendValues(b.Fls[c], valid)
		case String:
			rb.Field(c).(*array.StringBuilder).AppendValues(b.Strs[c], valid)
		case Bool:
			rb.Field(c).(*array.BooleanBuilder).AppendValues(b.Bools[c], valid)
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	return s.w.Write(rec)
}

func (s *arrowSink) Close() error { return s.w.Close() }

// textSink writes tsv, csv or jsonl.
type textSink struct {
	format string
	w      *bufio.Writer
	cw     *csv.Writer
	cols   []Column
	rec    []string
	buf    []byte
	header bool
}

// NewTextSink returns a Sink writing the rows as text: "tsv" (header line,
// tab-separated, empty for null), "csv" (RFC 4180, empty for null) or
// "jsonl" (one object per row, null for null). Floats are written in the
// shortest form that reads back to the same float64.
func NewTextSink(w io.Writer, format string, cols []Column) (Sink, error) {
	s := &textSink{format: format, w: bufio.NewWriterSize(w, 1<<16), cols: cols, rec: make([]string, len(cols))}
	switch format {
	case "tsv", "jsonl":
	case "csv":
		s.cw = csv.NewWriter(s.w)
	default:
		return nil, fmt.Errorf("gradstat: unknown text format %q", format)
	}
	return s, nil
}

func (s *textSink) cell(b *Batch, c, r int) string {
	if !b.Valid[c][r] {
		return ""
	}
	switch b.Cols[c].Type {
	case Int:
		return strconv.FormatInt(b.Ints[c][r], 10)
	case Float:
		return strconv.FormatFloat(b.Fls[c][r], 'g', -1, 64)
	case String:
		return b.Strs[c][r]
	default:
		return strconv.FormatBool(b.Bools[c][r])
	}
}

func (s *textSink) writeHeader() error {
	s.header = true
	if s.format == "jsonl" {
		return nil
	}
	for i, c := range s.cols {
		s.rec[i] = c.Name
	}
	return s.line()
}

func (s *textSink) line() error {
	if s.cw != nil {
		return s.cw.Write(s.rec)
	}
	for i, v := range s.rec {
		if i > 0 {
			s.w.WriteByte('\t')
		}
		s.w.WriteString(tsvEscape(v))
	}
	return s.w.WriteByte('\n')
}

// tsvEscape replaces the tab, newline and carriage return characters that
// would break a TSV line by their backslash escapes (and backslash by \\).
func tsvEscape(v string) string {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\t', '\n', '\r', '\\':
			goto escape
		}
	}
	return v
escape:
	out := make([]byte, 0, len(v)+4)
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\\':
			out = append(out, '\\', '\\')
		default:
			out = append(out, v[i])
		}
	}
	return string(out)
}

func (s *textSink) Write(b *Batch) error {
	if !s.header {
		if err := s.writeHeader(); err != nil {
			return err
		}
	}
	for r := 0; r < b.N; r++ {
		if s.format != "jsonl" {
			for c := range b.Cols {
				s.rec[c] = s.cell(b, c, r)
			}
			if err := s.line(); err != nil {
				return err
			}
			continue
		}
		s.buf = append(s.buf[:0], '{')
		for c, col := range b.Cols {
			if c > 0 {
				s.buf = append(s.buf, ',')
			}
			s.buf = strconv.AppendQuote(s.buf, col.Name)
			s.buf = append(s.buf, ':')
			switch {
			case !b.Valid[c][r]:
				s.buf = append(s.buf, "null"...)
			case col.Type == String:
				q, _ := json.Marshal(b.Strs[c][r])
				s.buf = append(s.buf, q...)
			default:
				s.buf = append(s.buf, s.cell(b, c, r)...)
			}
		}
		s.buf = append(s.buf, '}', '\n')
		if _, err := s.w.Write(s.buf); err != nil {
			return err
		}
	}
	if s.cw != nil {
		s.cw.Flush()
		if err := s.cw.Error(); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

func (s *textSink) Close() error {
	if !s.header {
		if err := s.writeHeader(); err != nil {
			return err
		}
	}
	if s.cw != nil {
		s.cw.Flush()
		if err := s.cw.Error(); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

// mdSink writes a GitHub markdown table.
type mdSink struct {
	w      *bufio.Writer
	cols   []Column
	layout []MDCell
	header bool
}

// NewMarkdownSink returns a Sink writing the rows as a GitHub markdown
// table: strings as they are (| escaped), integers in full, floats with 4
// significant digits (%.4g), null as an empty cell. The five columns X_mean,
// X_sd, X_min, X_max, X_n of an aggregated table (Aggregate) become one
// column X holding "mean ± sd" (just the mean when sd is null; " (n=k)"
// appended when k differs from the row's "runs").
//
// A table with a markdown layout (MarkdownLayout) is written cell by cell
// as its layout says instead.
func NewMarkdownSink(w io.Writer, cols []Column, layout []MDCell) Sink {
	return &mdSink{w: bufio.NewWriter(w), cols: cols, layout: layout}
}

// MDCell is one cell of a table's markdown layout: the header Title and
// the fmt Format of the values of the columns Cols, in order (an Int
// column's value is an int64, a Float's a float64, a String's a string, a
// Bool's a bool; a Float's the string Float returns when Float is set). The
// cell is empty when any of the values is null.
type MDCell struct {
	Title  string
	Format string
	Cols   []string
	Float  func(float64) string // nil: the float64 itself
}

// writeLayout writes the rows of b by s.layout.
func (s *mdSink) writeLayout(b *Batch) {
	idx := make([][]int, len(s.layout))
	for i, cell := range s.layout {
		for _, name := range cell.Cols {
			c, ok := b.index[name]
			if !ok {
				panic("gradstat: markdown layout: no column " + name)
			}
			idx[i] = append(idx[i], c)
		}
	}
	for r := 0; r < b.N; r++ {
		cells := make([]string, len(s.layout))
		for i, cell := range s.layout {
			args := make([]any, 0, len(idx[i]))
			for _, c := range idx[i] {
				if !b.Valid[c][r] {
					args = nil
					break
				}
				switch b.Cols[c].Type {
				case Int:
					args = append(args, b.Ints[c][r])
				case Float:
					if cell.Float != nil {
						args = append(args, cell.Float(b.Fls[c][r]))
					} else {
						args = append(args, b.Fls[c][r])
					}
				case String:
					args = append(args, b.Strs[c][r])
				default:
					args = append(args, b.Bools[c][r])
				}
			}
			if args != nil {
				cells[i] = strings.ReplaceAll(fmt.Sprintf(cell.Format, args...), "|", "\\|")
			}
		}
		s.w.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}

func mdFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func (s *mdSink) writeHeader() {
	s.header = true
	var names []string
	for _, cell := range s.layout {
		names = append(names, cell.Title)
	}
	for c := 0; c < len(s.cols) && s.layout == nil; c++ {
		if base, ok := aggGroupAt(s.cols, c); ok {
			names = append(names, base)
			c += len(aggSuffixes) - 1
			continue
		}
		names = append(names, s.cols[c].Name)
	}
	s.w.WriteString("| " + strings.Join(names, " | ") + " |\n|")
	s.w.WriteString(strings.Repeat("---|", len(names)))
	s.w.WriteString("\n")
}

func (s *mdSink) Write(b *Batch) error {
	if !s.header {
		s.writeHeader()
	}
	if s.layout != nil {
		s.writeLayout(b)
		return s.w.Flush()
	}
	runs := -1
	for c, col := range b.Cols {
		if col.Name == "runs" && col.Type == Int {
			runs = c
		}
	}
	for r := 0; r < b.N; r++ {
		var cells []string
		for c := 0; c < len(b.Cols); c++ {
			if _, ok := aggGroupAt(b.Cols, c); ok {
				cell := ""
				if b.Valid[c][r] {
					cell = mdFloat(b.Fls[c][r])
					if b.Valid[c+1][r] {
						cell += " ± " + mdFloat(b.Fls[c+1][r])
					}
				}
				if n := b.Ints[c+4][r]; runs >= 0 && n != b.Ints[runs][r] {
					cell += fmt.Sprintf(" (n=%d)", n)
				}
				cells = append(cells, strings.TrimSpace(cell))
				c += len(aggSuffixes) - 1
				continue
			}
			v := ""
			if b.Valid[c][r] {
				switch b.Cols[c].Type {
				case Int:
					v = strconv.FormatInt(b.Ints[c][r], 10)
				case Float:
					v = mdFloat(b.Fls[c][r])
				case String:
					v = strings.ReplaceAll(b.Strs[c][r], "|", "\\|")
				default:
					v = strconv.FormatBool(b.Bools[c][r])
				}
			}
			cells = append(cells, v)
		}
		s.w.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return s.w.Flush()
}

func (s *mdSink) Close() error {
	if !s.header {
		s.writeHeader()
	}
	return s.w.Flush()
}

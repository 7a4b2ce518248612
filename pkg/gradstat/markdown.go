package gradstat

import (
	"fmt"
	"io"
	"strings"
)

var typeNames = map[Type]string{Int: "int64", Float: "float64", String: "utf8", Bool: "bool"}

// WriteMarkdown writes the docs/FORMATS.md section of gradstat's output
// tables, generated from the column definitions so that it cannot drift.
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## Statistics: `entangle.gradstat.<table>`, version " + FormatVersion + " (gradstat)\n\n")
	b.WriteString("One table per invocation (`-table`, default `steps`). Arrow: an IPC stream on stdout (one record batch per run\n" +
		"and step), an IPC file with `-o FILE`; `-format tsv|csv|jsonl` writes the same columns as text (header line for\n" +
		"tsv/csv; null is an empty field, or `null` in jsonl; floats in shortest round-trip form). Every column is nullable:\n" +
		"a float is null where it is undefined (a zero norm, NaN input, a statistic not applicable to the row's kind), and\n" +
		"a warning on stderr says why. Metadata keys: `format` = `entangle.gradstat.<table>`, `format_version` = `1`,\n" +
		"`producer` = `gradstat`, `table`. Every table starts with the run identity columns `run`, `run_id`, `loss`,\n" +
		"`step`, `kind`, so several runs (a sweep) go in one table.\n\n")
	for _, t := range Tables {
		fmt.Fprintf(&b, "### `-table %s`\n\n| column | type | meaning |\n|---|---|---|\n", t)
		for _, c := range ColumnsOf(t) {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Name, typeNames[c.Type], strings.ReplaceAll(c.Doc, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	b.WriteString("Cases: 1 ideal (chosen ↑, rejected ↓), 2 both fall, 3 both rise (paper Table 1; ties count as the desired\n" +
		"direction), 4 chosen falls and rejected rises (possible only with a negative loss weight), 0 undefined.\n" +
		"`case` uses d_w = d_l (the paper's Condition 1); `loss_case` uses the pair's own d_w, d_l.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

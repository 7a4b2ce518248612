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
		"`producer` = `gradstat`, `table`, and `runs`: a JSON list of `{run, run_id, loss, mode, source, config}` (config\n" +
		"is the run's resolved train config); with `-by` also `by` and with `-slope` also `slope` (the flags' values).\n" +
		"Every table starts with the run identity columns `run`, `run_id`, `loss`, `step`, `kind`, so several runs (a\n" +
		"sweep) go in one table.\n\n" +
		"Inputs: pairs/grads/steps streams (files or stdin), a run directory (its streams are read in lockstep by step),\n" +
		"or a sweep directory (every run directory below it, at any depth; `run` is the `key=value` parts of its path).\n" +
		"A run directory without `DONE` is a run in progress: it is read with a warning on stderr (its statistics are\n" +
		"those of the steps written so far), and a stream cut mid-message is read up to its last complete step. Otherwise a truncated stream stops gradstat with `file:step N: truncated Arrow stream: …` (N\n" +
		"the last complete step; the rest says where the input ends: inside a message body at byte B, or at a message\n" +
		"boundary without the end-of-stream marker) and exit 1, after writing the statistics up to step N. Every input's\n" +
		"header is read before anything is written: an input that is not a run stream writes nothing. Steps must increase within a stream,\n" +
		"each step once: a stream that goes back or repeats a step (two runs' streams concatenated) stops gradstat the\n" +
		"same way with `file:step N: the next rows are of step M: steps must increase …`. `-o FILE` may not be one of the\n" +
		"inputs (exit 2).\n\n")
	for _, t := range Tables {
		fmt.Fprintf(&b, "### `-table %s`\n\n| column | type | meaning |\n|---|---|---|\n", t)
		for _, c := range ColumnsOf(t) {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Name, typeNames[c.Type], strings.ReplaceAll(c.Doc, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	b.WriteString("`pairs`: each pair of pairs.arrows gives a row with `source` = `pairs` (train's exact float64 reductions);\n" +
		"when grads.arrows holds that step's sequence gradients, gradstat recomputes ⟨g_w,g_l⟩ and the norms from the\n" +
		"vectors and adds a row with `source` = `grads` (joined with the pairs.arrows row of the same step, kind and pair\n" +
		"for d_w, d_l and log-probs; `pred_w`/`pred_l` from the `update` row). For `sketch:K` dumps those rows have\n" +
		"`estimate` = true and `dot_se` the standard error; for full dumps a disagreement with train's values beyond\n" +
		"1e-6 (relative to ‖g_w‖‖g_l‖) is warned about.\n\n" +
		"`tokens`: per (run, step, kind, pair) with per-token gradients (train -token-grads), one row per entry (i, j)\n" +
		"of the chosen × rejected cosine matrix, then one summary row with i = j = −1: mean cosine of\n" +
		"contrastive×contrastive entries, of end-aligned shared entries (chosen token i with rejected token\n" +
		"i − n_w + n_l, both shared), and of the rest.\n\n" +
		"`attrib`: from attrib.arrows (train -attrib), one row per (run, dump step, probe, training pair); `kind` is\n" +
		"`probe`. The contributions of the step's training pairs to a probe add up to `sum_w`, `sum_l` = ⟨g^p, −dst⟩\n" +
		"(dst the gradient train's step descended; first-order change per unit SGD step size). Under SGD without clipping\n" +
		"`lr`·`sum_w` equals the probe's `pred_w` up to float32 rounding of the update; under AdamW or clipping the\n" +
		"attribution is of the raw gradient direction, not of the applied update. With train -attrib-update the dots are\n" +
		"of the applied update (preconditioned probe gradients) and `sum_w` + `hist_w` equals `pred_w` under any optimizer.\n\n" +
		"`tokensum`: the `tokens` rows with i = j = −1 and a defined `contrastive_mean` (same order). `mass`: the\n" +
		"`pairs` rows of kind `probe` and source `pairs`, over every run read, reduced per step (written after all runs,\n" +
		"steps ascending). `attriblabel`: the `attrib` rows over every run read, split by whether the training pair's\n" +
		"label is the probe's, where an example's label is its chosen response's first token in the run's dataset\n" +
		"(`-data` names it, `{key}` standing for the run label's value of key); groups in name order. These two are the\n" +
		"only tables that do not start with the run identity columns. With `-format md` all three are written in their own layout (named cells, fixed decimals: the tables of docs/RESULTS.md); a cell is\n" +
		"empty where a value is null.\n\n" +
		"`groups`: the groups of each pair must add up to its totals (relative 1e-9); otherwise a warning names the\n" +
		"step and pair.\n\n")
	b.WriteString("`runs`: one row per run, written after all runs are read. It starts with one utf8 column per key of the\n" +
		"sweep's `key=value` labels (in order of first appearance over the runs; null where a run lacks the key; a key\n" +
		"that equals a fixed column name becomes `label_<key>`), then the columns above. Train rows are a different\n" +
		"batch at every step, so `train_*_first/last` compare different pairs; probe rows are the same pairs at every\n" +
		"dump step. With `-by k1,k2` the runs are aggregated over the runs sharing the values of those string columns\n" +
		"(groups in order of first appearance, i.e. in the sorted order of the run paths): the key columns, `runs`\n" +
		"(int64, runs in the group), then for every numeric column X: `X_mean`, `X_sd` (sample sd, n−1; null for one\n" +
		"value), `X_min`, `X_max` (float64) and `X_n` (int64, non-null values); metadata key `by` holds the keys.\n" +
		"`-cols a,b,…` keeps only those columns (with `-by`, a name selects its five aggregate columns).\n" +
		"`-format md` writes any table as a GitHub markdown table (floats to 4 significant digits; an aggregate is one\n" +
		"`mean ± sd` cell, with ` (n=k)` when fewer than `runs` values were defined).\n\n")
	b.WriteString("Cases: 1 ideal (chosen ↑, rejected ↓), 2 both fall, 3 both rise (paper Table 1; ties count as the desired\n" +
		"direction), 4 chosen falls and rejected rises (possible only with a negative loss weight), 0 undefined.\n" +
		"`case` uses d_w = d_l (the paper's Condition 1); `loss_case` uses the pair's own d_w, d_l.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

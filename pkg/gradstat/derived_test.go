package gradstat

import (
	"bytes"
	"math"
	"testing"
)

// pairsBatch builds pairs-table rows (step, kind, source, logp_w, logp_l,
// cos; NaN cos is null).
func pairsBatch(rows [][6]any) *Batch {
	b := NewBatch(PairColumns)
	for _, r := range rows {
		b.Row()
		b.Int("step", r[0].(int64))
		b.Str("kind", r[1].(string))
		b.Str("source", r[2].(string))
		b.Float("logp_w", r[3].(float64))
		b.Float("logp_l", r[4].(float64))
		b.Float("cos", r[5].(float64))
		b.End()
	}
	return b
}

// TestMassHandWorked: step 4 has two probe rows, p_w = 1/2 and 1/4, p_l =
// 1/8 and 1/8, so the means are 0.375, 0.125 and 0.5; cos is defined on one
// row only (0.6). Train rows and source=grads rows are ignored; steps come
// out sorted though step 10 is written first.
func TestMassHandWorked(t *testing.T) {
	ln := math.Log
	var buf bytes.Buffer
	s := DerivedSink(TableMass, NewMarkdownSink(&buf, MassColumns, MarkdownLayout(TableMass)), nil)
	in := [][6]any{
		{int64(10), "probe", "pairs", 0.0, ln(0.001), -0.25},
		{int64(10), "train", "pairs", ln(0.9), ln(0.9), 0.9},
		{int64(4), "probe", "pairs", ln(0.5), ln(0.125), 0.6},
		{int64(4), "probe", "grads", ln(0.9), ln(0.9), 0.9},
	}
	if err := s.Write(pairsBatch(in)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(pairsBatch([][6]any{{int64(4), "probe", "pairs", ln(0.25), ln(0.125), math.NaN()}})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := "| step | p_w | p_l | p_w + p_l | cos(g_w, g_l) |\n|---|---|---|---|---|\n" +
		"| 4 | 0.3750 | 0.12500 | 0.5000 | 0.600 |\n" +
		"| 10 | 1.0000 | 0.00100 | 1.0010 | -0.250 |\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestTokenSumHandWorked: only summary rows (i = −1) with a contrastive
// mean are kept; a null value leaves its markdown cell empty.
func TestTokenSumHandWorked(t *testing.T) {
	b := NewBatch(TokenColumns)
	row := func(step, pair, i int64, cm float64, an int64, am float64, on int64, om float64) {
		b.Row()
		b.Int("step", step)
		b.Str("kind", "probe")
		b.Int("pair", pair)
		b.Int("i", i)
		b.Int("j", i)
		b.Float("cos", 0.5)
		if i == -1 {
			b.Float("contrastive_mean", cm)
			b.Int("aligned_shared_n", an)
			b.Float("aligned_shared_mean", am)
			b.Int("other_n", on)
			b.Float("other_mean", om)
		}
		b.End()
	}
	row(5, 7, 0, 0, 0, 0, 0, 0)
	row(5, 7, -1, -0.1234, 3, 0.9876, 12, 0.25)
	row(5, 8, -1, math.NaN(), 3, 0.5, 12, 0.5)
	row(10, 7, -1, 0.0005, 0, math.NaN(), 16, -0.0625)
	var buf bytes.Buffer
	s := DerivedSink(TableTokenSum, NewMarkdownSink(&buf, TokenSumColumns, MarkdownLayout(TableTokenSum)), nil)
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := "| step | pair | cos contrastive | mean cos aligned shared (n) | mean cos other (n) |\n|---|---|---|---|---|\n" +
		"| 5 | 7 | -0.123 | 0.988 (3) | 0.250 (12) |\n" +
		"| 10 | 7 | 0.001 |  | -0.062 (16) |\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestAttribLabelHandWorked: labels: examples 1 and 3 are "a" (0), 2 is
// "b" (1). Run r, step 5, probe 1 has training pairs 3 (same, contrib_w −2,
// contrib_l 1) and 2 (opposite, +1, −1); probe 2 at step 5 has pair 3
// (opposite, −4, 0) and pair 2 (same, −1, 3). Same label: rows 2, mean
// contrib_w −1.5, both negative (100 %), mean contrib_l 2, and its sums are
// −2 (probe 1) and −1 (probe 2): 2 of 2 pushed down. Opposite: mean −1.5,
// 1 of 2 negative (50 %), mean contrib_l −0.5, sums +1 and −4: 1 of 2.
//
// With -attrib-update's history columns (repeated on every row of a probe
// pair-step): probe 1 hist_w −0.05, hist_l 0.25; probe 2 hist_w 0.01,
// hist_l −1. History: 2 rows (one per probe pair-step, not per attrib row),
// mean hist_w −0.02 (4 significant digits: below 0.1), 1 of 2 negative
// (50 %), mean hist_l −0.375, and it pushes probe 1's chosen down: 1 of 2;
// the label groups are as without it.
func TestAttribLabelHandWorked(t *testing.T) {
	labels := map[int64]int32{1: 0, 2: 1, 3: 0}
	label := func(run string, id int64) (int32, error) { return labels[id], nil }
	hist := map[int64][2]float64{1: {-0.05, 0.25}, 2: {0.01, -1}}
	head := "| training pairs | rows | mean contrib_w | contrib_w < 0 | mean contrib_l | probe pair-steps whose chosen this group pushes down |\n" +
		"|---|---|---|---|---|---|\n"
	labelRows := "| opposite label | 2 | -1.500 | 50 % | -0.500 | 1 of 2 |\n" +
		"| same label | 2 | -1.500 | 100 % | 2.000 | 2 of 2 |\n"
	for _, withHist := range []bool{false, true} {
		b := NewBatch(AttribColumns)
		for _, r := range [][4]float64{{1, 3, -2, 1}, {1, 2, 1, -1}, {2, 3, -4, 0}, {2, 2, -1, 3}} {
			b.Row()
			b.Str("run", "r")
			b.Int("step", 5)
			b.Str("kind", "probe")
			b.Int("probe", int64(r[0]))
			b.Int("pair", int64(r[1]))
			b.Float("contrib_w", r[2])
			b.Float("contrib_l", r[3])
			if withHist {
				b.Float("hist_w", hist[int64(r[0])][0])
				b.Float("hist_l", hist[int64(r[0])][1])
			}
			b.End()
		}
		var buf bytes.Buffer
		s := DerivedSink(TableAttribLabel, NewMarkdownSink(&buf, AttribLabelColumns, MarkdownLayout(TableAttribLabel)), label)
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		want := head + labelRows
		if withHist {
			want = head + "| history | 2 | -0.02 | 50 % | -0.375 | 1 of 2 |\n" + labelRows
		}
		if buf.String() != want {
			t.Errorf("history %v: got\n%s\nwant\n%s", withHist, buf.String(), want)
		}
	}
	// the published means keep their digits
	for x, want := range map[float64]string{-1.27: "-1.270", 0.632: "0.632", -0.05243: "-0.05243", 0.00938: "0.00938", -0.004116: "-0.004116", 0.1: "0.100"} {
		if got := meanDigits(x); got != want {
			t.Errorf("meanDigits(%v) = %q, want %q", x, got, want)
		}
	}
}

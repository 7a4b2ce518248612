package gradstat

import (
	"math"
	"sort"
	"strconv"
)

// TableAttribLabel is the attribution-by-label table: the attrib table's
// rows split by whether the training pair's label (LabelFunc) is the
// probe's ("same label") or not ("opposite label"), over every run read.
// Per group: the rows, the mean contrib_w and contrib_l, the percentage of
// rows with contrib_w < 0, and the (run, step, probe) triples whose
// contrib_w summed over the group's rows is negative: the probe pair-steps
// whose chosen log-prob the group pushes down. Runs of train -attrib-update
// add the group "history": one row per (run, step, probe) triple holding
// hist_w and hist_l (the momentum carried over and weight decay, the same on
// every attrib row of the triple), so that the three groups' sums are the
// probe's ⟨g^p, Δθ⟩. Written once, after all runs, groups in name order.
const TableAttribLabel = "attriblabel"

// AttribLabelColumns are the columns of the attriblabel table.
var AttribLabelColumns = []Column{
	{"group", String, "same label (the training pair's label is the probe's), opposite label, or history (train -attrib-update: hist_w, hist_l, one row per probe pair-step)"},
	{"rows", Int, "attrib rows in the group"},
	{"contrib_w_mean", Float, "mean contrib_w"},
	{"contrib_w_neg_pct", Float, "100 × the fraction of the rows with contrib_w < 0"},
	{"contrib_l_mean", Float, "mean contrib_l"},
	{"pushes_down", Int, "(run, step, probe) triples whose Σ contrib_w over the group's rows is < 0"},
	{"probe_steps", Int, "(run, step, probe) triples in the table"},
}

// attribLabelLayout is the attriblabel table's -format md layout; the means
// are written by meanDigits.
var attribLabelLayout = []MDCell{
	{"training pairs", "%s", []string{"group"}, nil},
	{"rows", "%d", []string{"rows"}, nil},
	{"mean contrib_w", "%s", []string{"contrib_w_mean"}, meanDigits},
	{"contrib_w < 0", "%.0f %%", []string{"contrib_w_neg_pct"}, nil},
	{"mean contrib_l", "%s", []string{"contrib_l_mean"}, meanDigits},
	{"probe pair-steps whose chosen this group pushes down", "%d of %d", []string{"pushes_down", "probe_steps"}, nil},
}

// meanDigits writes a mean with 3 decimals (−1.270) when |x| ≥ 0.1, else
// with 4 significant digits (−0.004116): the contributions of -attrib are
// per unit step size and of order 1, those of -attrib-update in log-prob
// units of the step taken and of order 10⁻³-10⁻², and both keep their digits.
func meanDigits(x float64) string {
	if math.Abs(x) >= 0.1 {
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

// LabelFunc returns the label of example id of the run labelled run (for
// the preference tasks, the first token of the chosen response).
type LabelFunc func(run string, id int64) (int32, error)

const (
	groupSame     = "same label"
	groupOpposite = "opposite label"
	groupHistory  = "history"
)

type attribGroup struct {
	rows, neg int64
	w, l      float64
}

type probeStep struct {
	run         string
	step, probe int64
}

// attribLabelSink reduces the attrib table's rows to the attriblabel table.
type attribLabelSink struct {
	out    Sink
	label  LabelFunc
	groups map[string]*attribGroup
	keys   []probeStep                      // in order of first appearance
	sums   map[probeStep]map[string]float64 // Σ contrib_w per group
}

// NewAttribLabelSink returns the Sink that turns attrib-table rows into the
// attriblabel table written to out, labelling pairs by label.
func NewAttribLabelSink(out Sink, label LabelFunc) Sink {
	return &attribLabelSink{out: out, label: label, groups: map[string]*attribGroup{}, sums: map[probeStep]map[string]float64{}}
}

func (s *attribLabelSink) Write(b *Batch) error {
	run, step, probe, pair := b.index["run"], b.index["step"], b.index["probe"], b.index["pair"]
	cw, cl := b.index["contrib_w"], b.index["contrib_l"]
	hw, hl := b.index["hist_w"], b.index["hist_l"]
	for r := 0; r < b.N; r++ {
		lp, err := s.label(b.Strs[run][r], b.Ints[probe][r])
		if err != nil {
			return err
		}
		li, err := s.label(b.Strs[run][r], b.Ints[pair][r])
		if err != nil {
			return err
		}
		g := groupOpposite
		if lp == li {
			g = groupSame
		}
		w, l := math.NaN(), math.NaN()
		if b.Valid[cw][r] {
			w = b.Fls[cw][r]
		}
		if b.Valid[cl][r] {
			l = b.Fls[cl][r]
		}
		s.group(g).add(w, l)
		k := probeStep{b.Strs[run][r], b.Ints[step][r], b.Ints[probe][r]}
		m := s.sums[k]
		if m == nil {
			m = map[string]float64{}
			s.sums[k] = m
			s.keys = append(s.keys, k)
			if b.Valid[hw][r] {
				// the history term, once per probe pair-step
				h := s.group(groupHistory)
				w, l := b.Fls[hw][r], math.NaN()
				if b.Valid[hl][r] {
					l = b.Fls[hl][r]
				}
				h.add(w, l)
				m[groupHistory] = w
			}
		}
		m[g] += w
	}
	return nil
}

func (s *attribLabelSink) group(name string) *attribGroup {
	a := s.groups[name]
	if a == nil {
		a = &attribGroup{}
		s.groups[name] = a
	}
	return a
}

func (a *attribGroup) add(w, l float64) {
	a.rows++
	a.w += w
	a.l += l
	if w < 0 {
		a.neg++
	}
}

func (s *attribLabelSink) Close() error {
	names := make([]string, 0, len(s.groups))
	for g := range s.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	b := NewBatch(AttribLabelColumns)
	for _, g := range names {
		a := s.groups[g]
		var down int64
		for _, k := range s.keys {
			if s.sums[k][g] < 0 {
				down++
			}
		}
		n := float64(a.rows)
		b.Row()
		b.Str("group", g)
		b.Int("rows", a.rows)
		b.Float("contrib_w_mean", a.w/n)
		b.Float("contrib_w_neg_pct", 100*float64(a.neg)/n)
		b.Float("contrib_l_mean", a.l/n)
		b.Int("pushes_down", down)
		b.Int("probe_steps", int64(len(s.keys)))
		b.End()
	}
	if err := s.out.Write(b); err != nil {
		return err
	}
	return s.out.Close()
}

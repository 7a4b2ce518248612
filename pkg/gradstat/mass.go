package gradstat

import (
	"math"
	"sort"

	"entangle/pkg/runfmt"
)

// TableMass is the probability-mass table: per probe step, over every run
// and probe pair read, the means of p_w = π(y_w|x), p_l and p_w + p_l (the
// mass left on the two responses) and of cos(g_w, g_l). It is computed from
// the pairs table's probe rows of source pairs and written once, after all
// runs are read, in step order.
const TableMass = "mass"

// MassColumns are the columns of the mass table.
var MassColumns = []Column{
	{"step", Int, "probe (dump) step"},
	{"n", Int, "probe pair rows averaged over (runs × probe pairs)"},
	{"p_w", Float, "mean of exp(logp_w) = π(y_w|x) before the step"},
	{"p_l", Float, "mean of exp(logp_l)"},
	{"p_wl", Float, "mean of p_w + p_l"},
	{"cos", Float, "mean of cos(g_w, g_l) over the rows where it is defined"},
	{"cos_n", Int, "rows with a defined cos"},
}

// massLayout is the mass table's -format md layout.
var massLayout = []MDCell{
	{"step", "%d", []string{"step"}, nil},
	{"p_w", "%.4f", []string{"p_w"}, nil},
	{"p_l", "%.5f", []string{"p_l"}, nil},
	{"p_w + p_l", "%.4f", []string{"p_wl"}, nil},
	{"cos(g_w, g_l)", "%.3f", []string{"cos"}, nil},
}

// massSink reduces the pairs table's rows to the mass table.
type massSink struct {
	out   Sink
	steps map[int64]*massAcc
}

type massAcc struct {
	n, cosN   int64
	w, l, cos float64
}

func newMassSink(out Sink) Sink { return &massSink{out: out, steps: map[int64]*massAcc{}} }

func (s *massSink) Write(b *Batch) error {
	step, kind, src := b.index["step"], b.index["kind"], b.index["source"]
	lw, ll, cs := b.index["logp_w"], b.index["logp_l"], b.index["cos"]
	for r := 0; r < b.N; r++ {
		if b.Strs[kind][r] != runfmt.KindProbe || b.Strs[src][r] != "pairs" || !b.Valid[lw][r] || !b.Valid[ll][r] {
			continue
		}
		a := s.steps[b.Ints[step][r]]
		if a == nil {
			a = &massAcc{}
			s.steps[b.Ints[step][r]] = a
		}
		pw, pl := math.Exp(b.Fls[lw][r]), math.Exp(b.Fls[ll][r])
		a.n++
		a.w += pw
		a.l += pl
		if b.Valid[cs][r] {
			a.cosN++
			a.cos += b.Fls[cs][r]
		}
	}
	return nil
}

func (s *massSink) Close() error {
	steps := make([]int64, 0, len(s.steps))
	for k := range s.steps {
		steps = append(steps, k)
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	b := NewBatch(MassColumns)
	for _, k := range steps {
		a := s.steps[k]
		n := float64(a.n)
		b.Row()
		b.Int("step", k)
		b.Int("n", a.n)
		b.Float("p_w", a.w/n)
		b.Float("p_l", a.l/n)
		b.Float("p_wl", (a.w+a.l)/n)
		b.Float("cos", a.cos/float64(a.cosN)) // NaN, so null, when no cos is defined
		b.Int("cos_n", a.cosN)
		b.End()
	}
	if err := s.out.Write(b); err != nil {
		return err
	}
	return s.out.Close()
}

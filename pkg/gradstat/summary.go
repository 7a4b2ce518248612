package gradstat

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// SummaryWriter prints the human-readable view (-summary), a Collector: per
// run, a header, one aligned line per step and kind (every Nth step): n
// pairs, mean and median cos, the fractions of pairs in paper cases 1–3 and
// loss-aware cases 1–4, mean R, and for probes the fraction whose
// first-order predicted case matched the observed one (fo_ok); then per kind
// the headline figures of KindStats.Headline, named as in the runs table.
type SummaryWriter struct {
	w     io.Writer
	every int64
	err   error

	runs  RunCollector  // the headline figures
	last  []StepSummary // summaries of the last step seen
	lastP []bool        // whether each of last was printed
}

// NewSummaryWriter returns a writer printing to w; every > 1 prints only
// the train steps that are multiples of every (and the last step), and all
// probe rows (they exist at dump steps only).
func NewSummaryWriter(w io.Writer, every int) *SummaryWriter {
	if every < 1 {
		every = 1
	}
	return &SummaryWriter{w: w, every: int64(every)}
}

func (s *SummaryWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// BeginRun prints the run header.
func (s *SummaryWriter) BeginRun(r *Run) {
	s.runs.BeginRun(r)
	s.last, s.lastP = nil, nil
	id := r.RunID
	if len(id) > 12 {
		id = id[:12]
	}
	loss := r.Loss
	if loss == "" {
		loss = "-"
	}
	s.printf("run %s  (run_id %s, loss %s, %s)\n", r.Label, id, loss, r.Source)
	s.printf("%8s %-5s %5s %8s %8s %6s %6s %6s %6s %6s %6s %6s %8s %6s\n",
		"step", "kind", "n", "cos_mean", "cos_med", "case1", "case2", "case3", "loss1", "loss2", "loss3", "loss4", "R_mean", "fo_ok")
}

// Step records one step's summaries and prints those that are due.
func (s *SummaryWriter) Step(v *StepView) {
	s.runs.Step(v)
	s.last, s.lastP = s.last[:0], s.lastP[:0]
	for i := range v.Summaries {
		ss := &v.Summaries[i]
		// Train rows come every step: print every Nth. Other kinds (probes)
		// come only at dump steps: print them all.
		due := ss.Kind != "train" || ss.Step%s.every == 0
		s.last = append(s.last, *ss)
		s.lastP = append(s.lastP, due)
		if due {
			s.line(ss)
		}
	}
}

func f(x float64, prec int) string {
	if !finite(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func (s *SummaryWriter) line(ss *StepSummary) {
	c, l := ss.S.CaseFrac, ss.S.LossCaseFrac
	s.printf("%8d %-5s %5d %8s %8s %6s %6s %6s %6s %6s %6s %6s %8s %6s\n", ss.Step, ss.Kind, ss.S.N,
		f(ss.S.Cos.Mean, 4), f(ss.S.Cos.Median, 4), f(c[1], 3), f(c[2], 3), f(c[3], 3),
		f(l[1], 3), f(l[2], 3), f(l[3], 3), f(l[4], 3), f(ss.S.R.Mean, 3), f(ss.FoMatch, 3))
}

// EndRun prints the last step (if it was skipped by -every) and the headline
// figures of the run, per kind.
func (s *SummaryWriter) EndRun(warnings int) error {
	for i := range s.last {
		if !s.lastP[i] {
			s.line(&s.last[i])
		}
	}
	r := s.runs.cur
	for _, kind := range r.KindOrder {
		k := r.Kinds[kind]
		s.printf("  %s pairs: %s\n", kind, k.Span())
		for i, h := range k.Headline(kind) {
			sep := "  "
			if i%4 == 0 {
				sep = "\n    "
				if i == 0 {
					sep = "    "
				}
			}
			s.printf("%s%s %s", sep, h.Name, h.Text())
		}
		s.printf("\n")
	}
	if len(r.KindOrder) == 0 {
		s.printf("  no pairs (pairs.arrows missing or empty)\n")
	}
	if warnings > 0 {
		s.printf("  %d warnings (stderr)\n", warnings)
	}
	s.printf("%s\n", strings.Repeat("-", 8))
	return s.err
}

// Text formats a headline figure as every view prints it: changes signed
// with 4 decimals, cosines with 4, fractions with 3; "-" when undefined.
func (h Figure) Text() string {
	switch {
	case !finite(h.Value):
		return "-"
	case strings.HasSuffix(h.Name, "_delta"):
		return signed(h.Value)
	case strings.Contains(h.Name, "_case"):
		return f(h.Value, 3)
	}
	return f(h.Value, 4)
}

func signed(x float64) string {
	if math.Signbit(x) {
		return fmt.Sprintf("%.4f", x)
	}
	return fmt.Sprintf("+%.4f", x)
}

package gradstat

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// SummaryWriter prints the human-readable view (-summary): per run, a header,
// one aligned line per step and kind (every Nth step): n pairs, mean and
// median cos, the fractions of pairs in paper cases 1–3 and loss-aware cases
// 1–4, mean R, and for probes the fraction whose first-order predicted case
// matched the observed one (fo_ok); then the headline figures: the change of
// the mean chosen and rejected log-probabilities from the first step to the
// last (train pairs differ from step to step; probe pairs are fixed), and the
// mean over steps of the mean cosine.
type SummaryWriter struct {
	w     io.Writer
	every int64
	err   error

	run  *Run
	kind map[string]*kindTrack
	// kinds in order of first appearance
	order []string
	last  []StepSummary // summaries of the last step seen
	lastP []bool        // whether each of last was printed
}

type kindTrack struct {
	firstStep, lastStep int64
	firstW, firstL      float64
	lastW, lastL        float64
	cosSum              float64
	cosN                int
	steps               int
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
	s.run, s.kind, s.order, s.last, s.lastP = r, map[string]*kindTrack{}, nil, nil, nil
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

// Step records one step's summary and prints it if it is due.
func (s *SummaryWriter) Step(ss *StepSummary) {
	t := s.kind[ss.Kind]
	if t == nil {
		t = &kindTrack{firstStep: ss.Step, firstW: ss.LogpW, firstL: ss.LogpL}
		s.kind[ss.Kind] = t
		s.order = append(s.order, ss.Kind)
	}
	t.lastStep, t.lastW, t.lastL = ss.Step, ss.LogpW, ss.LogpL
	t.steps++
	if m := ss.S.Cos.Mean; finite(m) {
		t.cosSum += m
		t.cosN++
	}
	if len(s.last) > 0 && s.last[0].Step != ss.Step {
		s.last, s.lastP = s.last[:0], s.lastP[:0]
	}
	// Train rows come every step: print every Nth. Other kinds (probes) come
	// only at dump steps: print them all.
	due := ss.Kind != "train" || ss.Step%s.every == 0
	s.last = append(s.last, *ss)
	s.lastP = append(s.lastP, due)
	if due {
		s.line(ss)
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
// figures of the run.
func (s *SummaryWriter) EndRun(warnings int) error {
	for i := range s.last {
		if !s.lastP[i] {
			s.line(&s.last[i])
		}
	}
	for _, k := range s.order {
		t := s.kind[k]
		s.printf("  %-5s steps %d..%d (%d): Δlogp chosen %s, rejected %s, margin %s; mean cos %s\n", k,
			t.firstStep, t.lastStep, t.steps, signed(t.lastW-t.firstW), signed(t.lastL-t.firstL),
			signed((t.lastW-t.lastL)-(t.firstW-t.firstL)), f(t.cosSum/float64(t.cosN), 4))
	}
	if len(s.order) == 0 {
		s.printf("  no pairs (pairs.arrows missing or empty)\n")
	}
	if warnings > 0 {
		s.printf("  %d warnings (stderr)\n", warnings)
	}
	s.printf("%s\n", strings.Repeat("-", 8))
	return s.err
}

func signed(x float64) string {
	if !finite(x) {
		return "-"
	}
	if math.Signbit(x) {
		return fmt.Sprintf("%.4f", x)
	}
	return fmt.Sprintf("+%.4f", x)
}

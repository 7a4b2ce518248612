package pref

// Evaluate computes, at the current parameters and without an update, the
// statistics of every pair as ProbeBefore does — log-probs, the loss, d_w
// and d_l, cw and cl, ⟨g_w,g_l⟩, ‖g_w‖², ‖g_l‖² overall and per parameter
// group, and the hidden-state sums; the after fields are NaN — but keeps no
// gradients: pairs run one at a time on the Stepper's own lane, so memory
// does not grow with the number of pairs (2·NumParams gradient values
// whatever their count). When visit is not nil it receives pair i's g_w and
// g_l (read-only views, valid until it returns) after the pair's statistics are
// complete. kto_pair's reference point is the mean over all the pairs given.
// The statistics are newly allocated.
func (s *Stepper[F]) Evaluate(pairs []Pair, visit func(i int, gw, gl []F) error) ([]PairStats, error) {
	rows := growRows(nil, len(pairs), len(s.groups), s.m.Cfg.C)
	s.batchKL(pairs)
	ln := s.main
	for i := range pairs {
		if _, err := s.pairGrads(ln, &pairs[i], &rows[i], true); err != nil {
			return nil, err
		}
		if visit != nil {
			if err := visit(i, ln.gw, ln.gl); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

package train

import (
	"entangle/pkg/pref"
	"entangle/pkg/runfmt"
)

// The conversions of a step's values into the rows of the run's streams
// (pkg/runfmt), in one place.

// evalRow is the eval row of step s from a held-out evaluation.
func evalRow(s int, e *evalResult) runfmt.StepRow {
	row := runfmt.NullStepRow(int64(s), runfmt.KindEval)
	row.Loss, row.TokenAcc = e.Loss, e.TokenAcc
	row.LogpChosen, row.LogpRejected = e.LogpChosen, e.LogpRejected
	row.LogpChosenTok, row.LogpRejectedTok = e.LogpChosenTok, e.LogpRejectedTok
	row.Margin, row.RewardsAccuracies = e.Margin, e.PrefAcc
	return row
}

// prefStepRow is the train row of preference step s.
func prefStepRow(s int64, lr, gradNorm float64, b *pref.BatchStats) runfmt.StepRow {
	row := runfmt.NullStepRow(s, runfmt.KindTrain)
	row.LR, row.Loss, row.GradNorm = lr, b.Loss, gradNorm
	row.Margin, row.LogpChosen, row.LogpRejected = b.Margin, b.LogpW, b.LogpL
	row.LogpChosenTok, row.LogpRejectedTok = b.LogpWTok, b.LogpLTok
	row.RewardsChosen, row.RewardsRejected = b.RewardsW, b.RewardsL
	row.RewardsMargins, row.RewardsAccuracies = b.RewardsMargins, b.RewardsAccuracies
	row.CosMean, row.BatchDot, row.BatchWW, row.BatchLL = b.CosMean, b.BatchDot, b.BatchWW, b.BatchLL
	return row
}

// appendPairRows appends the pairs.arrows rows of ps (kind KindTrain or
// KindProbe) to dst. The list columns are views of ps.
func appendPairRows(dst []runfmt.PairRow, s int64, kind string, ps []pref.PairStats) []runfmt.PairRow {
	for i := range ps {
		p := &ps[i]
		dst = append(dst, runfmt.PairRow{Step: s, Kind: kind, Pair: p.Pair,
			LogpW: p.LogpW, LogpL: p.LogpL, RefW: p.RefW, RefL: p.RefL, LenW: p.LenW, LenL: p.LenL,
			Loss: p.Loss, Margin: p.Margin, DW: p.DW, DL: p.DL, CW: p.CW, CL: p.CL, Dot: p.Dot, WW: p.WW, LL: p.LL,
			DotG: p.DotG, WWG: p.WWG, LLG: p.LLG, HidW: p.HidW, HidL: p.HidL,
			LogpWAfter: p.LogpWAfter, LogpLAfter: p.LogpLAfter, PredW: p.PredW, PredL: p.PredL})
	}
	return dst
}

// appendAttribRows appends the attrib.arrows rows of ds to dst; probes maps
// a probe index to its pair.
func appendAttribRows(dst []runfmt.AttribRow, s int64, probes []pref.Pair, ds []pref.AttribDots) []runfmt.AttribRow {
	for _, d := range ds {
		dst = append(dst, runfmt.AttribRow{Step: s, Probe: probes[d.Probe].Ex.ID, Pair: d.Pair,
			WW: d.WW, WL: d.WL, LW: d.LW, LL: d.LL, CW: d.CW, CL: d.CL, HistW: d.HW, HistL: d.HL, Batch: int32(d.Batch)})
	}
	return dst
}

// vecKinds are the grads.arrows kinds of pref.VecOf.
var vecKinds = [...]string{pref.VecProbe: runfmt.KindProbe, pref.VecTrain: runfmt.KindTrain, pref.VecUpdate: runfmt.KindUpdate}

// appendGradRows appends the grads.arrows rows of vs to dst.
func appendGradRows(dst []runfmt.GradRow, s int64, vs []pref.GradVec) []runfmt.GradRow {
	for _, v := range vs {
		side := runfmt.SideChosen
		switch {
		case v.Of == pref.VecUpdate:
			side = runfmt.SideUpdate
		case v.Side == pref.SideL:
			side = runfmt.SideRejected
		}
		dst = append(dst, runfmt.GradRow{Step: s, Kind: vecKinds[v.Of], Pair: v.Pair, Side: side, Token: v.Token,
			TokenID: v.TokenID, Contrastive: v.Contrastive, Grad: v.Grad})
	}
	return dst
}

package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
	"entangle/pkg/train"
)

// distFlags holds the -mode dist flags.
type distFlags struct {
	k       *int
	split   *string
	pairs   *int
	summary *string
}

// checkPairs checks -pairs and -split, which -mode dist and -mode analyze
// share.
func (df *distFlags) checkPairs() error {
	if *df.pairs < 0 {
		return cli.Usagef("-pairs must be ≥ 0, got %d", *df.pairs)
	}
	switch *df.split {
	case prefdata.SplitSFT, prefdata.SplitTrain, prefdata.SplitTest:
	default:
		return cli.Usagef("-split must be sft, train or test, got %q", *df.split)
	}
	return nil
}

func addDistFlags(fs *flag.FlagSet) *distFlags {
	return &distFlags{
		k:       fs.Int("k", 5, "dist: the `K` most probable tokens per response position"),
		split:   fs.String("split", prefdata.SplitTest, "dist: the `split` whose pairs are scored (sft, train or test)"),
		pairs:   fs.Int("pairs", 0, "dist: score the first `N` pairs of the split (0: all)"),
		summary: fs.String("summary", "", "dist: print instead a markdown table with one row, `LABEL` (the model's name), of the means over the pairs at the chosen response's first position: p_w, p_l, third_p, third_n and entropy"),
	}
}

// distOnly lists the flags that mean something for -mode dist only.
func distOnly() []string { return []string{"k", "split", "pairs", "summary"} }

// runDist is -mode dist: the next-token distributions of the -init
// checkpoint at every response position of a split, as TSV on stdout.
func runDist(env *cli.Env, fs *flag.FlagSet, set map[string]bool, init string, df *distFlags) error {
	for name := range set {
		switch name {
		case "mode", "init", "k", "split", "pairs", "summary", "q":
		default:
			return cli.Usagef("-%s does not apply to -mode dist (it takes -init, -k, -split, -pairs and -summary)", name)
		}
	}
	if init == "" {
		return cli.Usagef("-mode dist needs -init CHECKPOINT (the model to score)")
	}
	if *df.k < 1 {
		return cli.Usagef("-k must be at least 1, got %d", *df.k)
	}
	if err := df.checkPairs(); err != nil {
		return err
	}
	c, err := train.ReadCheckpoint(init)
	if err != nil {
		return err
	}
	d, err := readData(env, fs)
	if err != nil {
		return err
	}
	if err := train.CheckHFVocab(init, c.Model, d); err != nil {
		return err
	}
	if d.Vocab.Size() > c.Model.V {
		return fmt.Errorf("%s: the dataset's vocabulary (%d tokens) is larger than the model's (%d)", cli.InputName(cli.Inputs(fs)[0]), d.Vocab.Size(), c.Model.V)
	}
	exs := d.Select(*df.split)
	if *df.pairs > 0 && *df.pairs < len(exs) {
		exs = exs[:*df.pairs]
	}
	w := bufio.NewWriter(env.Stdout)
	if set["summary"] {
		return distSummary(w, c, exs, *df.summary)
	}
	word := func(t int32) string {
		if t < 0 {
			return ""
		}
		if int(t) < d.Vocab.Size() {
			return d.Vocab.Tokens[t]
		}
		return "#" + strconv.Itoa(int(t))
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', 8, 64) }
	hdr := []string{"pair", "side", "pos", "token", "contrastive", "logp", "p", "other_token", "other_logp", "top_mass", "entropy", "third_p", "third_n"}
	for i := 1; i <= *df.k; i++ {
		hdr = append(hdr, fmt.Sprintf("top%d_token", i), fmt.Sprintf("top%d_p", i))
	}
	fmt.Fprintln(w, strings.Join(hdr, "\t"))
	rec := make([]string, 0, len(hdr))
	err = train.NextTokenDists(c, exs, *df.k, func(r *train.DistRow) error {
		var mass float64
		for _, tp := range r.Top {
			mass += tp.P
		}
		other := ""
		if r.Other >= 0 {
			other = num(r.OtherLogp)
		}
		rec = append(rec[:0], strconv.FormatInt(r.Pair, 10), r.Side, strconv.Itoa(r.Pos), word(r.Token),
			strconv.FormatBool(r.Contrastive), num(r.Logp), num(math.Exp(r.Logp)), word(r.Other), other, num(mass), num(r.Entropy),
			num(r.ThirdP), strconv.Itoa(r.ThirdN))
		for _, tp := range r.Top {
			rec = append(rec, word(tp.Token), num(tp.P))
		}
		for len(rec) < len(hdr) {
			rec = append(rec, "")
		}
		_, err := fmt.Fprintln(w, strings.Join(rec, "\t"))
		return err
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// distSummary writes -summary's markdown table: the header and one row,
// label, of the means over exs at the chosen response's first position (the
// label position of the one-token tasks).
func distSummary(w *bufio.Writer, c *train.Checkpoint, exs []prefdata.Example, label string) error {
	var s train.DistSummary
	err := train.NextTokenDists(c, exs, 1, func(r *train.DistRow) error {
		if r.Side == "chosen" && r.Pos == 0 {
			s.Add(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pw, pl, thirdP, thirdN, h := s.Means()
	fmt.Fprintf(w, "| model | p_w | p_l | largest third-token p | third tokens above %g %% | entropy (nats) |\n", 100*train.ThirdAbove)
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| %s | %.4f | %.5f | %.5f | %.1f | %.3f |\n", strings.ReplaceAll(label, "|", "\\|"), pw, pl, thirdP, thirdN, h)
	return w.Flush()
}

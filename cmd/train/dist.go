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
	k     *int
	split *string
	pairs *int
}

func addDistFlags(fs *flag.FlagSet) *distFlags {
	return &distFlags{
		k:     fs.Int("k", 5, "dist: the `K` most probable tokens per response position"),
		split: fs.String("split", prefdata.SplitTest, "dist: the `split` whose pairs are scored (sft, train or test)"),
		pairs: fs.Int("pairs", 0, "dist: score the first `N` pairs of the split (0: all)"),
	}
}

// distOnly lists the flags that mean something for -mode dist only.
func distOnly() []string { return []string{"k", "split", "pairs"} }

// runDist is -mode dist: the next-token distributions of the -init
// checkpoint at every response position of a split, as TSV on stdout.
func runDist(env *cli.Env, fs *flag.FlagSet, set map[string]bool, init string, df *distFlags) error {
	for name := range set {
		switch name {
		case "mode", "init", "k", "split", "pairs", "q":
		default:
			return cli.Usagef("-%s does not apply to -mode dist (it takes -init, -k, -split and -pairs)", name)
		}
	}
	if init == "" {
		return cli.Usagef("-mode dist needs -init CHECKPOINT (the model to score)")
	}
	if *df.k < 1 {
		return cli.Usagef("-k must be at least 1, got %d", *df.k)
	}
	if *df.pairs < 0 {
		return cli.Usagef("-pairs must be ≥ 0, got %d", *df.pairs)
	}
	switch *df.split {
	case prefdata.SplitSFT, prefdata.SplitTrain, prefdata.SplitTest:
	default:
		return cli.Usagef("-split must be sft, train or test, got %q", *df.split)
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
	hdr := []string{"pair", "side", "pos", "token", "contrastive", "logp", "p", "other_token", "other_logp", "top_mass", "entropy"}
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
			strconv.FormatBool(r.Contrastive), num(r.Logp), num(math.Exp(r.Logp)), word(r.Other), other, num(mass), num(r.Entropy))
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

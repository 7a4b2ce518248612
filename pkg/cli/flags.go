package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help is the text -h prints before the flag defaults.
type Help struct {
	Synopsis string // e.g. "prefgen [flags] [task|preset] > data.arrows"
	Doc      string // one paragraph: what the command does
	Examples string // pipelines, one per line
}

// NewFlagSet returns a flag set that reports errors instead of exiting and
// prints nothing by itself; Parse routes its errors.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// Parse parses args into fs. On -h it writes the help text to env.Stdout and
// returns ErrHelp; on a bad flag it returns a *UsageError naming it.
func Parse(env *Env, fs *flag.FlagSet, h Help, args []string) error {
	// Flags may come before, between or after positional arguments
	// ("prefgen long-suffix -n 64"); "--" ends the flags.
	var pos []string
	err := fs.Parse(args)
	for err == nil && fs.NArg() > 0 {
		rest := fs.Args()
		if rest[0] == "--" && len(args) > 0 && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		err = fs.Parse(args)
	}
	if err == nil {
		// Leave the positional arguments where fs.Args finds them.
		fs.Parse(append([]string{"--"}, pos...))
	}
	if err == flag.ErrHelp {
		WriteHelp(env.Stdout, fs, h)
		return ErrHelp
	}
	if err != nil {
		return Usagef("%v (see %s -h)", err, env.Name)
	}
	return nil
}

// WriteHelp writes the synopsis, the paragraph, the examples and the flag
// defaults of fs to w.
func WriteHelp(w io.Writer, fs *flag.FlagSet, h Help) {
	fmt.Fprintf(w, "usage: %s\n\n", h.Synopsis)
	if h.Doc != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(h.Doc))
	}
	if h.Examples != "" {
		fmt.Fprintf(w, "Examples:\n")
		for _, l := range strings.Split(strings.TrimSpace(h.Examples), "\n") {
			fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Flags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// Inputs returns the positional input names, with none meaning "-" (stdin).
func Inputs(fs *flag.FlagSet) []string {
	if fs.NArg() == 0 {
		return []string{"-"}
	}
	return fs.Args()
}

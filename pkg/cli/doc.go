// Package cli is the plumbing shared by the entangle commands (prefgen, train,
// gradstat, plot), so that all four behave alike:
//
//   - inputs are positional; none, or "-", means standard input (named <stdin>
//     in messages);
//   - -o FILE names the output; none, or "-", means standard output;
//   - -h prints a synopsis, a paragraph, pipeline examples and the flag defaults
//     to standard output and exits 0;
//   - a bad flag or argument prints one line "prog: ..." and exits 2;
//   - a data error prints one line "prog: <file>:<line or record>: ..." and
//     exits 1;
//   - binary output is refused when standard output is a terminal;
//   - progress goes to standard error, throttled, and -q silences it;
//   - output files are written to a temporary name in the same directory and
//     renamed into place only when complete, so a failed or interrupted run
//     never leaves a half-written file under the final name.
//
// A command is a thin main over a testable run function:
//
//	func main() { os.Exit(cli.Main("prefgen", run)) }
//
//	// run is the whole program; main only binds it to the process.
//	func run(ctx context.Context, env *cli.Env) error
//
// Tests call cli.Run with an Env of buffers and inspect stdout, stderr and the
// exit code.
package cli

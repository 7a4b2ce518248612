// Package cli is the plumbing shared by the entangle commands (prefgen, train,
// gradstat, plot, sweep), so that all of them behave alike:
//
//   - inputs are positional; none, or "-", means standard input (named <stdin>
//     in messages);
//   - -o FILE names the output; none, or "-", means standard output;
//   - -h prints a synopsis, a paragraph, pipeline examples and the flag defaults
//     to standard output and exits 0;
//   - a bad flag or argument prints one line "prog: ..." and exits 2;
//   - a data error prints one line "prog: <file>:<line or record>: ..." and
//     exits 1;
//   - binary output is refused when standard output is a terminal (isatty:
//     "> /dev/null" is not one);
//   - progress goes to standard error, throttled, and -q silences it;
//   - output files are written to a temporary name in the same directory and
//     renamed into place only when the command succeeded (Output.Finish), so
//     a failed or interrupted run never replaces or half-writes a file; a
//     symbolic link's target is replaced and the link kept; a device or FIFO
//     (-o /dev/null, a named pipe) is written in place; an output that is one
//     of the inputs is refused (CheckOutput runs every check without
//     touching anything, for commands that must check before they delete);
//     errors name the user's path, never the temporary file;
//   - SIGINT or SIGTERM cancels the command's context (a second one kills
//     it); every loop whose length depends on the input checks
//     Interrupted(ctx), and the command stops with "prog: interrupted (...)",
//     exit 1.
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

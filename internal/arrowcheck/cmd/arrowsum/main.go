// Command arrowsum writes the JSON manifest of Arrow IPC files that the
// independent readers in interop/ check, and writes sample files.
//
// Usage:
//
//	arrowsum [-o manifest.json] FILE...
//	arrowsum fixtures DIR
//
// The first form reads each FILE (an IPC file or stream, detected by the
// "ARROW1" magic, whatever its extension) with Arrow Go and writes one JSON
// manifest (see package entangle/internal/arrowcheck) to stdout or -o. The
// second writes the fixture files into DIR (created if needed) and prints
// their paths, one a line.
//
// Examples:
//
//	arrowsum fixtures /tmp/fx
//	arrowsum -o manifest.json /tmp/fx/*.arrow /tmp/fx/*.arrows
//	node interop/check_polars.js manifest.json
//
// Exit status: 0 ok, 1 unreadable input or output error, 2 usage error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"entangle/internal/arrowcheck"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

const usage = `usage: arrowsum [-o manifest.json] FILE...
       arrowsum fixtures DIR

Writes the JSON manifest (format, batches, rows, schema metadata keys, per-column
counts and checksums) of Arrow IPC files or streams, or writes sample files.

Examples:
  arrowsum fixtures /tmp/fx
  arrowsum -o manifest.json /tmp/fx/*.arrow /tmp/fx/*.arrows
  node interop/check_polars.js manifest.json

Flags:
`

// usageError marks errors that exit with status 2.
type usageError struct{ error }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "arrowsum: %v (see arrowsum -help)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "arrowsum: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program; main only binds it to the process.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arrowsum", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "-", "write the manifest to `file` (- is stdout)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return usageError{err}
	}
	mem := memory.NewGoAllocator()
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "fixtures" {
		if len(rest) != 2 {
			return usageError{errors.New("fixtures takes exactly one DIR")}
		}
		if err := os.MkdirAll(rest[1], 0o755); err != nil {
			return err
		}
		paths, err := arrowcheck.WriteFixtures(mem, rest[1])
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(stdout)
		for _, p := range paths {
			fmt.Fprintln(bw, p)
		}
		return bw.Flush()
	}
	if len(rest) == 0 {
		return usageError{errors.New("no input files")}
	}
	var m arrowcheck.Manifest
	for _, p := range rest {
		s, err := arrowcheck.SummarizeFile(mem, p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, s)
	}
	if *out == "-" {
		bw := bufio.NewWriter(stdout)
		if err := m.WriteJSON(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := m.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Package examples holds the test that runs the documentation: every
// example line that the tools print under "Examples:" in their -h output
// (prefgen, train, gradstat, plot, sweep and their subcommands), run in a
// directory set up with the files the examples name, must exit 0.
package examples

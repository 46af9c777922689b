package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/printreg/printreg/internal/cli"
)

// parseArgs parses a command that takes arguments as well as flags. Flags
// may come before, between or after the arguments ("ingest case ACC1
// --summary"); a "--" ends the flags. It returns the arguments; ok is false
// with the exit code to return when parsing failed, help was asked for, or
// the number of arguments is outside [minArgs, maxArgs] (maxArgs < 0: no
// upper bound). Arguments are never repeated in messages: they may be
// accession numbers.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer, help string, minArgs, maxArgs int) ([]string, int, bool) {
	pos, done, code := cli.Parse(fs, args, help, stderr)
	if done {
		return nil, code, false
	}
	if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
		what := "too many arguments"
		if len(pos) < minArgs {
			what = "missing argument"
		}
		fmt.Fprintf(stderr, "ingest %s: %s\n", fs.Name(), what)
		fs.Usage()
		return nil, exitUsage, false
	}
	return pos, 0, true
}

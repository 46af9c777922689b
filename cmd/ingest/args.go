package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseArgs parses a command that takes arguments as well as flags. Flags
// may come before, between or after the arguments ("ingest case ACC1
// --summary"); a "--" ends the flags. It returns the arguments; ok is false
// with the exit code to return when parsing failed, help was asked for, or
// the number of arguments is outside [minArgs, maxArgs] (maxArgs < 0: no
// upper bound). Arguments are never repeated in messages: they may be
// accession numbers.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer, help string, minArgs, maxArgs int) ([]string, int, bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	pos, err := interleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		return nil, exitUsage, false
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

// interleaved is fs.Parse for flags mixed with arguments: Go's flag package
// stops at the first argument, so parsing resumes after each one.
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" && (used < 2 || !takesValue(fs, args[used-2])) {
			return append(pos, rest...), nil // "--" ended the flags
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether arg is a flag of fs written without "=" that
// takes the next argument as its value.
func takesValue(fs *flag.FlagSet, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(arg, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ParseInterleaved is fs.Parse for flags written before, between or after
// the arguments (`deid -o OUT DIR --report R`): Go's flag package stops at
// the first argument, so parsing resumes after each one. A "--" ends the
// flags (unless it is a flag's value), so an argument starting with "-"
// can still be given. It returns the arguments in order.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
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

// Parse parses a command's flags (before, between or after its
// arguments) with usage text, writing to stderr. It returns the arguments,
// or done with the exit code when the command has nothing more to do: 0
// after -help, 2 after a usage error (already reported by fs).
func Parse(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (rest []string, done bool, code int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	rest, err := ParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, true, 0
		}
		return nil, true, 2
	}
	return rest, false, 0
}

// Command is Parse with a -version flag that prints the version on stdout.
func Command(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (rest []string, done bool, code int) {
	version := fs.Bool("version", false, "print the version and exit")
	rest, done, code = Parse(fs, args, usage, stderr)
	if !done && *version {
		fmt.Fprintln(stdout, fs.Name(), Version)
		return nil, true, 0
	}
	return rest, done, code
}

package cli

import (
	"flag"
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

// Package confval holds what lets a package's own Config be decoded
// straight from the ingest configuration file: ByteSize for sizes written
// as "512MiB" or "10MB", and Overlay for the PRINTREG_<SECTION>_<KEY>
// environment variables that override the file. Durations need no type of
// their own: time.Duration fields are read with time.ParseDuration ("90s",
// "2m30s") by the YAML decoder and by Overlay alike.
package confval

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a size in bytes written as 1048576, "512MiB", "8GiB" or
// "10MB": an integer, optionally followed (with or without a space) by B,
// KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
type ByteSize int64

// ParseByteSize reads a size as ByteSize documents it. Negative sizes,
// fractions and sizes beyond 2^62 bytes are refused.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range parseUnits {
		if strings.HasSuffix(s, u.s) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.s)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("%q is not a size (use e.g. 8GiB, 512MiB or a number of bytes)", s)
	}
	return ByteSize(n * mult), nil
}

type unit struct {
	s string
	n int64
}

// parseUnits are tried in order: the binary units before the decimal ones
// they end like, B last.
var parseUnits = []unit{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

// formatUnits are the units String writes.
var formatUnits = []unit{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// UnmarshalYAML accepts an integer or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String writes the size in the largest binary unit that divides it
// exactly ("256KiB", "4GiB"), else as a number of bytes.
func (b ByteSize) String() string {
	for _, u := range formatUnits {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

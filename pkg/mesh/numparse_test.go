package mesh

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// The number parsers are checked against strconv, which they stand in for
// on the hot path. Where both accept an input they must give the same value,
// bit for bit (the sign of zero included); a number too large for the type
// is ±Inf for both (strconv adds ErrRange, which parseF64 and parseF32
// drop). They deliberately accept less than strconv:
//
//   - parseF64 and parseF32 take plain decimals only: no "inf", "infinity"
//     or "nan" (in any case), no hexadecimal mantissa (0x1p-2), and so no
//     underscores (strconv allows them only after a base prefix);
//   - parseInt takes at most 18 digits after the sign, leading zeros
//     included, so that it cannot overflow; strconv takes any number that
//     fits in int64. No index or id a reader takes is that long.
//
// Neither allows spaces around the number: callers trim (3MF attributes)
// or split on them (STL and OBJ), as with strconv.

// floatOnlyStrconv reports whether s is one of the forms strconv.ParseFloat
// accepts that parseF64 and parseF32 refuse by design.
func floatOnlyStrconv(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "inf") || strings.Contains(l, "nan") || strings.Contains(l, "0x") || strings.Contains(s, "_")
}

// intDigits counts what parseInt counts: the characters after the sign.
func intDigits(s string) int {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return len(s) - 1
	}
	return len(s)
}

func strconvFloat(s string, bits int) (float64, bool) {
	f, err := strconv.ParseFloat(s, bits)
	var ne *strconv.NumError
	if err != nil && !(errors.As(err, &ne) && ne.Err == strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// show abbreviates long inputs in messages.
func show(s string) string {
	if len(s) <= 80 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q…%q (%d bytes)", s[:40], s[len(s)-30:], len(s))
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// checkNumber compares parseF64, parseF32 and parseInt with strconv on s.
func checkNumber(t *testing.T, s string) {
	t.Helper()
	want64, ok64 := strconvFloat(s, 64)
	got64, gotOK := parseF64([]byte(s))
	switch {
	case gotOK && !ok64:
		t.Errorf("parseF64(%s) = %v, but strconv refuses it", show(s), got64)
	case !gotOK && ok64 && !floatOnlyStrconv(s):
		t.Errorf("parseF64(%s) refuses what strconv reads as %v", show(s), want64)
	case gotOK && !sameBits(got64, want64):
		t.Errorf("parseF64(%s) = %v (%#x), strconv %v (%#x)", show(s), got64, math.Float64bits(got64), want64, math.Float64bits(want64))
	}

	want32, ok32 := strconvFloat(s, 32)
	got32, gotOK := parseF32([]byte(s))
	switch {
	case gotOK && !ok32:
		t.Errorf("parseF32(%s) = %v, but strconv refuses it", show(s), got32)
	case !gotOK && ok32 && !floatOnlyStrconv(s):
		t.Errorf("parseF32(%s) refuses what strconv reads as %v", show(s), want32)
	case gotOK && !sameBits(float64(got32), want32):
		t.Errorf("parseF32(%s) = %v (%#x), strconv %v (%#x)", show(s), got32, math.Float32bits(got32), float32(want32), math.Float32bits(float32(want32)))
	}

	wantI, err := strconv.ParseInt(s, 10, 64)
	gotI, gotOK := parseInt([]byte(s))
	switch {
	case gotOK && err != nil:
		t.Errorf("parseInt(%s) = %d, but strconv refuses it: %v", show(s), gotI, err)
	case !gotOK && err == nil && intDigits(s) <= 18:
		t.Errorf("parseInt(%s) refuses what strconv reads as %d", show(s), wantI)
	case gotOK && gotI != wantI:
		t.Errorf("parseInt(%s) = %d, strconv %d", show(s), gotI, wantI)
	}
}

// numberInputs are the table cases, and the fuzzer's seeds.
var numberInputs = []string{
	// integers and plain decimals
	"0", "-0", "+0", "00", "007", "1", "-1", "+1", "42", "-42", "123456789", "0.5", "-0.5", ".5", "5.", "-.5", "+5.",
	"0.0", "-0.0", "-0.000", "0e0", "-0e10", "0e999999999", "-0e-999999999", "0.000e+5",
	"1.5", "3.14159", "-273.15", "0.1", "0.2", "0.3", "1e0", "1E0", "1e+0", "1e-0", "2.5e3", "2.5E-3", "-7e+22", "7e-22",
	"1e22", "1e23", "1e-22", "1e-23", "9007199254740991", "9007199254740992", "9007199254740993", "18014398509481985",
	// more than 19 significant digits, and trailing zeros past them
	"1234567890123456789", "12345678901234567890", "123456789012345678901234567890", "0.12345678901234567890123",
	"1.00000000000000000000000000", "100000000000000000000000000000", "1.0000000000000000000000001",
	"3.141592653589793238462643383279502884197", "0.0000000000000000000000000000000000001",
	// halfway cases for float32 and float64
	"16777217", "16777219", "33554433", "1.00000005960464477539062500", "1.000000059604644775390625000000001",
	"9007199254740993", "9007199254740993.0000000000001", "2.2250738585072011e-308", "2.2250738585072012e-308",
	"4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "5e-324", "1e-400", "-1e-400",
	"1.401298464324817e-45", "7.006492321624085e-46", "7.006492321624087e-46", "3.4028234663852886e38", "3.4028235677973366e38",
	// the edges of the range
	"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "-1e309",
	"1e999999999999", "-1e999999999999", "1e-999999999999", "123e100000", "1e100000", "1e99999", "0.1e100001",
	// integer edges
	"999999999999999999", "-999999999999999999", "1000000000000000000", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "000000000000000001", "0000000000000000001", "+000000000000000000", "2147483647", "4294967295",
	// not numbers, or not plain decimals
	"", "+", "-", ".", "+.", "-.", "e", "e5", ".e5", "1e", "1e+", "1e-", "1e+-1", "1ee1", "1e1.5", "1.2.3", "--1", "+-1",
	"1 ", " 1", "1\n", "\t1", "1,5", "1_000", "0x10", "0X1p-2", "0x1.8p1", "inf", "-Inf", "+INF", "infinity", "nan", "NaN",
	"1f", "1d", "1e5x", "x1", "١", "1\x00", "0b101", "0o17",
}

func TestNumbersMatchStrconv(t *testing.T) {
	for _, s := range numberInputs {
		checkNumber(t, s)
	}
	// long inputs: many zeros before the digits and a long exponent
	for _, n := range []int{18, 19, 20, 22, 23, 100, 99_999, 100_000, 100_001, 999_995} {
		zeros := strings.Repeat("0", n)
		for _, s := range []string{
			"0." + zeros + "1", "0." + zeros + "1e" + strconv.Itoa(n+1), "0." + zeros + "1e" + strconv.Itoa(n+5),
			"0." + zeros + "1e1000000", "0." + zeros + "1e+1000000", "0." + zeros + "1e10000000",
			"1" + zeros, "1" + zeros + "e-" + strconv.Itoa(n), "1" + zeros + "e-1000000", "1" + zeros + ".5",
			zeros + "1", "-" + zeros + "1",
		} {
			checkNumber(t, s)
		}
	}
}

// FuzzNumbersMatchStrconv compares the parsers with strconv on any input.
func FuzzNumbersMatchStrconv(f *testing.F) {
	for _, s := range numberInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkNumber(t, s)
	})
}

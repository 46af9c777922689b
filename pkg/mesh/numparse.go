package mesh

import (
	"math"
	"strconv"
)

// Decimal numbers are parsed without allocating on the common path:
// mantissas of up to 19 digits and small exponents are assembled exactly and
// rounded once (Clinger's fast path); anything else goes to strconv.

var pow10tab = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scanDecimal splits b into sign, mantissa digits and decimal exponent. ok
// is false when b is not a plain decimal number; exact is false when the
// mantissa did not fit in 19 digits or the written exponent has 10000 or
// more (the caller then falls back).
func scanDecimal(b []byte) (neg bool, mant uint64, exp int, exact, ok bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	digits, dropped := 0, false
	sawDigit := false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		sawDigit = true
		if mant == 0 && b[i] == '0' {
			continue
		}
		if digits < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
		} else {
			exp++
			if b[i] != '0' {
				dropped = true
			}
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			sawDigit = true
			if mant == 0 && b[i] == '0' {
				exp--
				continue
			}
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				digits++
				exp--
			} else if b[i] != '0' {
				dropped = true
			}
		}
	}
	if !sawDigit {
		return false, 0, 0, false, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) {
			return false, 0, 0, false, false
		}
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if e >= 10000 {
			// Too large to keep (above) and, with enough zeros before the
			// digits, still inside the fast path's range; strconv stops
			// reading such exponents too, and decides: the value must not
			// depend on which path read it.
			dropped = true
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(b) {
		return false, 0, 0, false, false
	}
	return neg, mant, exp, !dropped, true
}

// fastFloat returns the correctly rounded float64 of a decimal whose
// mantissa and exponent allow one exact rounding step.
func fastFloat(neg bool, mant uint64, exp int) (float64, bool) {
	if mant>>53 != 0 || exp < -22 || exp > 22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= pow10tab[-exp]
	} else {
		f *= pow10tab[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseF64 parses a decimal floating-point number (no hex, no inf/nan).
func parseF64(b []byte) (float64, bool) {
	neg, mant, exp, exact, ok := scanDecimal(b)
	if !ok {
		return 0, false
	}
	if mant == 0 {
		if neg {
			return math.Copysign(0, -1), true
		}
		return 0, true
	}
	if exact {
		if f, ok := fastFloat(neg, mant, exp); ok {
			return f, true
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	return f, true
}

// parseF32 parses a decimal number to float32 as STL readers do. The
// float64 fast path is rounded again to float32, which is exact unless the
// float64 lands exactly halfway between two float32s; that case (and every
// hard one) goes to strconv.
func parseF32(b []byte) (float32, bool) {
	neg, mant, exp, exact, ok := scanDecimal(b)
	if !ok {
		return 0, false
	}
	if mant == 0 {
		if neg {
			return float32(math.Copysign(0, -1)), true
		}
		return 0, true
	}
	if exact {
		if f, ok := fastFloat(neg, mant, exp); ok {
			// float64 has 29 more fraction bits than float32; a tie
			// shows as exactly 1 followed by 28 zeros there.
			if bits := math.Float64bits(f); bits&(1<<29-1) != 1<<28 {
				return float32(f), true
			}
		}
	}
	f, err := strconv.ParseFloat(string(b), 32)
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	return float32(f), true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// parseInt parses a decimal integer (optional sign) of at most 18 digits,
// leading zeros included, so that it cannot overflow int64; longer ones are
// refused. No index or id a reader takes is that long.
func parseInt(b []byte) (int64, bool) {
	i, neg := 0, false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	if i == len(b) || len(b)-i > 18 {
		return 0, false
	}
	var n int64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

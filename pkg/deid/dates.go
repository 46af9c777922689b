package deid

import (
	"strconv"
	"strings"
	"time"
)

// Date shifting (Retain Longitudinal Temporal Information with Modified
// Dates). Every date moves by the patient's offset in whole days:
//   - DA YYYYMMDD (and the ACR-NEMA form YYYY.MM.DD, written back as
//     YYYYMMDD); ranges "A-B", "-B", "A-"; every value of a multi-valued
//     element.
//   - DT keeps its precision, fraction and UTC offset: the date part moves,
//     the time of day and "&ZZXX" are copied. A value with only a year, or a
//     year and month, is moved as the middle of that period and written back
//     with the same precision.
//   - TM is not changed: shifting by whole days keeps the time of day.
// A value that does not parse is not guessed at: shiftDA/shiftDT report
// false and the caller falls back to the Basic Profile action.

func shiftDate(t time.Time, days int) time.Time { return t.AddDate(0, 0, days) }

func parseDay(s string) (time.Time, bool) {
	if len(s) == 10 && s[4] == '.' && s[7] == '.' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) != 8 || !digits(s) {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102", s)
	return t, err == nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// shiftDAValue shifts one DA value, a range or a single date.
func shiftDAValue(v string, days int) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", true
	}
	if a, b, ok := strings.Cut(v, "-"); ok {
		var ra, rb string
		if a != "" {
			if ra, ok = shiftOneDA(a, days); !ok {
				return "", false
			}
		}
		if b != "" {
			if rb, ok = shiftOneDA(b, days); !ok {
				return "", false
			}
		}
		return ra + "-" + rb, true
	}
	return shiftOneDA(v, days)
}

func shiftOneDA(v string, days int) (string, bool) {
	t, ok := parseDay(strings.TrimSpace(v))
	if !ok {
		return "", false
	}
	return shiftDate(t, days).Format("20060102"), true
}

// shiftDA shifts every value of a DA element (backslash-separated).
func shiftDA(v string, days int) (string, bool) {
	parts := strings.Split(trimPad(v), `\`)
	for i, p := range parts {
		s, ok := shiftDAValue(p, days)
		if !ok {
			return "", false
		}
		parts[i] = s
	}
	return strings.Join(parts, `\`), true
}

// shiftDT shifts every value of a DT element.
func shiftDT(v string, days int) (string, bool) {
	parts := strings.Split(trimPad(v), `\`)
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		s, ok := shiftDTValue(p, days)
		if !ok {
			return "", false
		}
		parts[i] = s
	}
	return strings.Join(parts, `\`), true
}

// shiftDTValue shifts one DT value or range. A single value is tried
// first, so "20200101-0500" is a date with a UTC offset, not a range.
func shiftDTValue(v string, days int) (string, bool) {
	if r, ok := shiftOneDT(v, days); ok {
		return r, true
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		a, b := v[:i], v[i+1:]
		if a == "" && b == "" {
			return "", false
		}
		ra, oka := "", true
		if a != "" {
			ra, oka = shiftOneDT(a, days)
		}
		rb, okb := "", true
		if b != "" {
			rb, okb = shiftOneDT(b, days)
		}
		if oka && okb {
			return ra + "-" + rb, true
		}
	}
	return "", false
}

func shiftOneDT(v string, days int) (string, bool) {
	body, zone := v, ""
	if i := strings.IndexAny(v, "+-"); i >= 0 {
		body, zone = v[:i], v[i:]
		if len(zone) != 5 || !digits(zone[1:]) {
			return "", false
		}
	}
	n := len(body)
	if dot := strings.IndexByte(body, '.'); dot >= 0 {
		n = dot
		if !digits(body[dot+1:]) {
			return "", false
		}
	}
	if n < 4 || !digits(body[:n]) {
		return "", false
	}
	switch {
	case n == 4:
		y, _ := strconv.Atoi(body[:4])
		t := time.Date(y, 7, 2, 0, 0, 0, 0, time.UTC)
		return shiftDate(t, days).Format("2006") + body[4:] + zone, true
	case n == 6:
		t, err := time.Parse("200601", body[:6])
		if err != nil {
			return "", false
		}
		t = t.AddDate(0, 0, 14)
		return shiftDate(t, days).Format("200601") + body[6:] + zone, true
	case n >= 8:
		t, ok := parseDay(body[:8])
		if !ok {
			return "", false
		}
		return shiftDate(t, days).Format("20060102") + body[8:] + zone, true
	}
	return "", false
}

// capAge writes an Age String over 89 years as 090Y (HIPAA Safe Harbor:
// ages over 89 are aggregated), whatever unit it was given in. Values that
// do not parse are reported as not ok.
func capAge(v string) (string, bool) {
	v = trimPad(v)
	if v == "" {
		return "", true
	}
	if len(v) != 4 || !digits(v[:3]) {
		return "", false
	}
	n, _ := strconv.Atoi(v[:3])
	var years float64
	switch v[3] {
	case 'Y':
		years = float64(n)
	case 'M':
		years = float64(n) / 12
	case 'W':
		years = float64(n) * 7 / 365.25
	case 'D':
		years = float64(n) / 365.25
	default:
		return "", false
	}
	if years >= 90 {
		return "090Y", true
	}
	return v, true
}

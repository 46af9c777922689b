package textnorm

import (
	"fmt"
	"regexp"
)

// Date layouts, on folded text (lower case, diacritics dropped, full-width
// digits made ASCII by NFKC). Separators are -, /, . or spaces, alone or
// mixed with spaces ("1970 03 14", "14 . 03 . 1970").
var (
	sep        = `(?:\s*[-/.]\s*|\s+)`
	reDateYMD  = regexp.MustCompile(`\b(\d{4})` + sep + `(\d{1,2})` + sep + `(\d{1,2})\b`)
	reDateXY4  = regexp.MustCompile(`\b(\d{1,2})` + sep + `(\d{1,2})` + sep + `(\d{4})\b`)
	reDateXY2  = regexp.MustCompile(`\b(\d{1,2})[-/](\d{1,2})[-/](\d{2})\b`)
	reDate8    = regexp.MustCompile(`\b((?:18|19|20|21)\d{2})(\d{2})(\d{2})\b`)
	reDateDMon = regexp.MustCompile(`\b(\d{1,2})(?:st|nd|rd|th|er|\.)?` + monSep + `([a-z]{3,10})\.?,?` + monSep + `(\d{4})\b`)
	reDateMonD = regexp.MustCompile(`\b([a-z]{3,10})\.?` + monSep + `(\d{1,2})(?:st|nd|rd|th)?,?` + monSep + `(\d{4})\b`)
	reDateYMon = regexp.MustCompile(`\b(\d{4})` + monSep + `([a-z]{3,10})\.?` + monSep + `(\d{1,2})\b`)
	// 1970年3月14日 (Chinese, Japanese), 1970년 3월 14일 (Korean).
	reDateCJK = regexp.MustCompile(`(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?`)
)

const monSep = `(?:\s*[-/]\s*|\s+|)`

// months maps month names and their usual abbreviations, folded, in the
// languages of the sites printreg serves first: English, German, French,
// Spanish, Italian, Dutch, Portuguese.
var months = func() map[string]int {
	m := map[string]int{}
	names := [][]string{
		{"jan", "january", "januar", "janvier", "enero", "gennaio", "januari", "janeiro", "janner", "ene", "gen"},
		{"feb", "february", "februar", "fevrier", "febrero", "febbraio", "februari", "fevereiro", "fev", "fevr"},
		{"mar", "march", "marz", "maerz", "mars", "marzo", "maart", "marco", "mrz", "maa"},
		{"apr", "april", "avril", "abril", "aprile", "abr", "avr"},
		{"may", "mai", "mayo", "maggio", "mei", "maio", "mag"},
		{"jun", "june", "juni", "juin", "junio", "giugno", "junho", "giu"},
		{"jul", "july", "juli", "juillet", "julio", "luglio", "julho", "juil", "lug"},
		{"aug", "august", "aout", "agosto", "augustus", "ago"},
		{"sep", "sept", "september", "septembre", "septiembre", "settembre", "setembro", "set"},
		{"oct", "october", "oktober", "octobre", "octubre", "ottobre", "outubro", "okt", "ott", "out"},
		{"nov", "november", "novembre", "noviembre", "novembro"},
		{"dec", "december", "dezember", "decembre", "diciembre", "dicembre", "dezembro", "dez", "dic"},
	}
	for i, ns := range names {
		for _, n := range ns {
			m[n] = i + 1
		}
	}
	return m
}()

// Dates returns every calendar date text may spell, as YYYYMMDD. Day and
// month order is ambiguous in 04/12/1965, so both readings are returned.
// Text is folded first; the caller may pass folded text.
func Dates(text string) []string {
	digits := 0
	for i := 0; i < len(text); i++ {
		if text[i] >= '0' && text[i] <= '9' {
			digits++
		}
	}
	if digits < 4 {
		if ASCII(text) {
			return nil
		}
		text = Fold(text) // full-width digits become ASCII
		digits = 0
		for i := 0; i < len(text); i++ {
			if text[i] >= '0' && text[i] <= '9' {
				digits++
			}
		}
		if digits < 4 {
			return nil
		}
	} else {
		text = Fold(text)
	}
	return DatesFolded(text)
}

// DatesFolded is Dates for text already in Fold's form: it is not folded
// again.
func DatesFolded(text string) []string {
	if !dateShaped(text) {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(y, m, d int) {
		if s, ok := Date(y, m, d); ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, m := range reDateYMD.FindAllStringSubmatch(text, -1) {
		add(atoi(m[1]), atoi(m[2]), atoi(m[3]))
	}
	for _, m := range reDateXY4.FindAllStringSubmatch(text, -1) {
		a, b, y := atoi(m[1]), atoi(m[2]), atoi(m[3])
		add(y, b, a)
		add(y, a, b)
	}
	for _, m := range reDateXY2.FindAllStringSubmatch(text, -1) {
		a, b, y := atoi(m[1]), atoi(m[2]), atoi(m[3])
		for _, c := range []int{1900, 2000} {
			add(c+y, b, a)
			add(c+y, a, b)
		}
	}
	for _, m := range reDate8.FindAllStringSubmatch(text, -1) {
		add(atoi(m[1]), atoi(m[2]), atoi(m[3]))
	}
	for _, m := range reDateDMon.FindAllStringSubmatch(text, -1) {
		if mo, ok := months[m[2]]; ok {
			add(atoi(m[3]), mo, atoi(m[1]))
		}
	}
	for _, m := range reDateMonD.FindAllStringSubmatch(text, -1) {
		if mo, ok := months[m[1]]; ok {
			add(atoi(m[3]), mo, atoi(m[2]))
		}
	}
	for _, m := range reDateYMon.FindAllStringSubmatch(text, -1) {
		if mo, ok := months[m[2]]; ok {
			add(atoi(m[1]), mo, atoi(m[3]))
		}
	}
	for _, m := range reDateCJK.FindAllStringSubmatch(text, -1) {
		add(atoi(m[1]), atoi(m[2]), atoi(m[3]))
	}
	return out
}

// Date formats a plausible calendar date as YYYYMMDD.
func Date(y, m, d int) (string, bool) {
	if y < 1800 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31 {
		return "", false
	}
	return fmt.Sprintf("%04d%02d%02d", y, m, d), true
}

// DA reads a DICOM date (YYYYMMDD; also YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD)
// as YYYYMMDD.
func DA(s string) (string, bool) {
	b := make([]byte, 0, 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b = append(b, c)
		case c == '-' || c == '.' || c == '/' || c == ' ' || c == 0:
		default:
			return "", false
		}
	}
	if len(b) != 8 {
		return "", false
	}
	return Date(atoi(string(b[:4])), atoi(string(b[4:6])), atoi(string(b[6:])))
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// dateShaped is a cheap test every layout Dates reads needs to pass: an
// eight-digit run, a four-digit run (a year) beside another number, or three
// numbers with a - or / between them (04/12/65). Most text fails it, and
// the regular expressions are not run.
func dateShaped(text string) bool {
	runs, run, four, sep := 0, 0, false, false
	for i := 0; i <= len(text); i++ {
		if i < len(text) && text[i] >= '0' && text[i] <= '9' {
			run++
			continue
		}
		if run > 0 {
			runs++
			if run == 8 {
				return true
			}
			four = four || run == 4
			run = 0
		}
		if i < len(text) && (text[i] == '-' || text[i] == '/') {
			sep = true
		}
	}
	return (four && runs >= 2) || (runs >= 3 && sep)
}

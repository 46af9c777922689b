// Command gentable turns the PS3.15 Annex E tables kept in standard/ into Go
// data for package deid: Table E.1-1 (Basic Profile and option columns),
// Table E.3.10-1 (safe private attributes), Table E.3.4-1 (structured content
// concept names) and CID 7050. Table E.1-1 is cross-checked against the older
// innolitics extraction: every attribute present in both must have the same
// actions, or generation fails.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Option column names, in the order of the deid package's option indexes.
var optionCols = []string{
	"Rtn. Safe Priv. Opt.",
	"Rtn. UIDs Opt.",
	"Rtn. Dev. Id. Opt.",
	"Rtn. Inst. Id. Opt.",
	"Rtn. Pat. Chars. Opt.",
	"Rtn. Long. Full Dates Opt.",
	"Rtn. Long. Modif. Dates Opt.",
	"Clean Desc. Opt.",
	"Clean Struct. Cont. Opt.",
	"Clean Graph. Opt.",
}

var innoKeys = []string{
	"rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt",
	"rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt", "cleanStructContOpt", "cleanGraphOpt",
}

var actionNames = map[string]string{
	"":       "actNone",
	"D":      "ActD",
	"Z":      "ActZ",
	"X":      "ActX",
	"K":      "ActK",
	"C":      "ActC",
	"U":      "ActU",
	"Z/D":    "ActZD",
	"X/Z":    "ActXZ",
	"X/D":    "ActXD",
	"X/Z/D":  "ActXZD",
	"X/Z/U*": "ActXZU",
}

func main() {
	dir := flag.String("standard", "standard", "folder holding the tables")
	out := flag.String("out", "table_gen.go", "generated Go file")
	edition := flag.String("edition", "2026d", "PS3.15 edition of the tables")
	flag.Parse()
	if err := run(*dir, *out, *edition); err != nil {
		fmt.Fprintln(os.Stderr, "gentable:", err)
		os.Exit(1)
	}
}

func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	var res []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			if i < len(r) {
				m[h] = strings.TrimSpace(strings.ReplaceAll(r[i], "\u200b", ""))
			}
		}
		res = append(res, m)
	}
	return res, nil
}

func action(s, where string) (string, error) {
	n, ok := actionNames[s]
	if !ok {
		return "", fmt.Errorf("%s: unknown action code %q", where, s)
	}
	return n, nil
}

type row struct {
	tag     uint32
	wild    string // wildcard kind, "" for exact tags
	name    string
	retired bool
	inIOD   bool
	basic   string
	opts    []string // action names
	raw     []string // action codes
}

func parseTag(s string) (uint32, error) {
	s = strings.Trim(s, "()")
	p := strings.Split(s, ",")
	if len(p) != 2 {
		return 0, fmt.Errorf("bad tag %q", s)
	}
	g, err := strconv.ParseUint(p[0], 16, 16)
	if err != nil {
		return 0, err
	}
	e, err := strconv.ParseUint(p[1], 16, 16)
	if err != nil {
		return 0, err
	}
	return uint32(g)<<16 | uint32(e), nil
}

func run(dir, out, edition string) error {
	e11, err := readCSV(filepath.Join(dir, "table_E1-1.csv"))
	if err != nil {
		return err
	}
	var rows []row
	seen := map[uint32]bool{}
	for _, m := range e11 {
		r := row{name: m["Attribute Name"], retired: m["Retd. (from PS3.6)"] == "Y", inIOD: m["In Std. Comp. IOD (from PS3.3)"] == "Y"}
		tag := m["Tag"]
		switch {
		case tag == "(50xx,xxxx)":
			r.wild = "wildCurve"
		case tag == "(60xx,3000)":
			r.wild = "wildOverlayData"
		case tag == "(60xx,4000)":
			r.wild = "wildOverlayComments"
		case strings.Contains(tag, "odd"):
			r.wild = "wildPrivate"
		default:
			t, err := parseTag(tag)
			if err != nil {
				return fmt.Errorf("E.1-1 row %q: %w", r.name, err)
			}
			if seen[t] {
				return fmt.Errorf("E.1-1: tag %s listed twice", tag)
			}
			seen[t] = true
			r.tag = t
		}
		if r.basic, err = action(m["Basic Prof."], r.name); err != nil {
			return err
		}
		r.raw = append(r.raw, m["Basic Prof."])
		for _, c := range optionCols {
			a, err := action(m[c], r.name+" "+c)
			if err != nil {
				return err
			}
			r.opts = append(r.opts, a)
			r.raw = append(r.raw, m[c])
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if (rows[i].wild == "") != (rows[j].wild == "") {
			return rows[i].wild == ""
		}
		if rows[i].wild != "" {
			return rows[i].wild < rows[j].wild
		}
		return rows[i].tag < rows[j].tag
	})
	if err := crossCheck(dir, rows); err != nil {
		return err
	}

	sp, err := readCSV(filepath.Join(dir, "table_E3.10-1_safe_private.csv"))
	if err != nil {
		return err
	}
	sc, err := readCSV(filepath.Join(dir, "table_E3.4-1_clean_structured_content_codes.csv"))
	if err != nil {
		return err
	}
	var cid struct {
		Edition string `json:"edition"`
		Rows    []struct {
			Scheme  string `json:"scheme_designator"`
			Value   string `json:"code_value"`
			Meaning string `json:"code_meaning"`
		} `json:"rows"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "cid_7050.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &cid); err != nil {
		return fmt.Errorf("cid_7050.json: %w", err)
	}

	var buf bytes.Buffer
	p := func(f string, a ...any) { fmt.Fprintf(&buf, f, a...) }
	p("// Code generated by internal/gentable from standard/*.csv and standard/cid_7050.json; DO NOT EDIT.\n")
	p("// Source: DICOM PS3.15 %s Annex E tables and PS3.16 CID 7050, © NEMA (see standard/NOTICE.md).\n\n", edition)
	p("package deid\n\n")
	p("// TableEdition names the PS3.15 edition the Annex E tables were generated from.\n")
	p("const TableEdition = %q\n\n", edition)
	p("// tableE11 is Table E.1-1 for exact tags, sorted by tag. Options are indexed by the opt* constants.\n")
	p("var tableE11 = [...]tableRow{\n")
	for _, r := range rows {
		if r.wild != "" {
			continue
		}
		p("\t{Tag: 0x%08X, Name: %q, Retired: %v, InIOD: %v, Basic: %s, Opt: [numOptions]Action{%s}},\n",
			r.tag, r.name, r.retired, r.inIOD, r.basic, strings.Join(r.opts, ", "))
	}
	p("}\n\n")
	p("// tableE11Wild holds the wildcard rows of Table E.1-1 (curves, overlay data and comments, private groups).\n")
	p("var tableE11Wild = [...]wildRow{\n")
	for _, r := range rows {
		if r.wild == "" {
			continue
		}
		p("\t{Kind: %s, Name: %q, Retired: %v, Basic: %s, Opt: [numOptions]Action{%s}},\n",
			r.wild, r.name, r.retired, r.basic, strings.Join(r.opts, ", "))
	}
	p("}\n\n")

	p("// safePrivateTable is Table E.3.10-1: private attributes matched by group, creator (lower case) and element low byte.\n")
	p("var safePrivateTable = [...]safePrivateRow{\n")
	type spr struct {
		g       uint16
		creator string
		lo      uint8
		vr      string
	}
	var sps []spr
	for _, m := range sp {
		de := strings.ToLower(strings.Trim(m["Data Element"], "()"))
		parts := strings.Split(de, ",")
		if len(parts) != 2 || len(parts[1]) != 4 || !strings.HasPrefix(parts[1], "xx") {
			return fmt.Errorf("E.3.10-1: bad data element %q", m["Data Element"])
		}
		g, err := strconv.ParseUint(parts[0], 16, 16)
		if err != nil {
			return fmt.Errorf("E.3.10-1: bad group in %q", m["Data Element"])
		}
		lo, err := strconv.ParseUint(parts[1][2:], 16, 8)
		if err != nil {
			return fmt.Errorf("E.3.10-1: bad element in %q", m["Data Element"])
		}
		sps = append(sps, spr{uint16(g), strings.ToLower(strings.TrimSpace(m["Private Creator"])), uint8(lo), m["VR"]})
	}
	sort.Slice(sps, func(i, j int) bool {
		a, b := sps[i], sps[j]
		if a.g != b.g {
			return a.g < b.g
		}
		if a.creator != b.creator {
			return a.creator < b.creator
		}
		return a.lo < b.lo
	})
	for i, s := range sps {
		if i > 0 && s.g == sps[i-1].g && s.creator == sps[i-1].creator && s.lo == sps[i-1].lo {
			continue
		}
		p("\t{Group: 0x%04X, Creator: %q, Elem: 0x%02X, VR: %q},\n", s.g, s.creator, s.lo, s.vr)
	}
	p("}\n\n")

	p("// structuredTable is Table E.3.4-1: SR content items by concept name and the action on their value under Clean Structured Content.\n")
	p("var structuredTable = [...]structuredRow{\n")
	scCols := map[string]int{
		"Rtn. UIDs Opt.": 1, "Rtn. Dev. Id. Opt.": 2, "Rtn. Inst. Id. Opt.": 3, "Rtn. Pat. Chars. Opt.": 4,
		"Rtn. Long. Full Dates Opt.": 5, "Rtn. Long. Modif. Dates Opt.": 6, "Clean Desc. Opt.": 7,
	}
	colOrder := []string{"Rtn. UIDs Opt.", "Rtn. Dev. Id. Opt.", "Rtn. Inst. Id. Opt.", "Rtn. Pat. Chars. Opt.",
		"Rtn. Long. Full Dates Opt.", "Rtn. Long. Modif. Dates Opt.", "Clean Desc. Opt."}
	for _, m := range sc {
		basic, err := action(m["Basic Prof."], "E.3.4-1 "+m["Code Meaning"])
		if err != nil {
			return err
		}
		opts := make([]string, len(optionCols))
		for i := range opts {
			opts[i] = "actNone"
		}
		for _, c := range colOrder {
			a, err := action(m[c], "E.3.4-1 "+m["Code Meaning"])
			if err != nil {
				return err
			}
			opts[scCols[c]] = a
		}
		p("\t{Scheme: %q, Value: %q, Meaning: %q, ValueType: %q, Basic: %s, Opt: [numOptions]Action{%s}},\n",
			m["Coding Scheme Designator"], m["Code Value"], m["Code Meaning"], m["Value Type"], basic, strings.Join(opts, ", "))
	}
	p("}\n\n")

	p("// cid7050 is PS3.16 CID 7050 De-identification Method (%s).\n", cid.Edition)
	p("var cid7050 = [...]MethodCode{\n")
	for _, r := range cid.Rows {
		p("\t{Scheme: %q, Value: %q, Meaning: %q},\n", r.Scheme, r.Value, r.Meaning)
	}
	p("}\n")

	src, err := format.Source(buf.Bytes())
	if err != nil {
		return fmt.Errorf("formatting generated code: %w", err)
	}
	return os.WriteFile(out, src, 0o644)
}

// knownEditionDiffs are the differences between the 2026d table and the
// 2024b extraction that are changes of the standard, not extraction errors.
var knownEditionDiffs = map[string]bool{
	// Requesting Service gained Clean Descriptors = C after 2024b.
	`(0032,1033) cleanDescOpt "C" vs ""`: true,
}

// crossCheck compares Table E.1-1 with the innolitics 2024b extraction.
func crossCheck(dir string, rows []row) error {
	b, err := os.ReadFile(filepath.Join(dir, "innolitics_confidentiality_profile_attributes_2024b.json"))
	if err != nil {
		return err
	}
	var inno []map[string]string
	if err := json.Unmarshal(b, &inno); err != nil {
		return fmt.Errorf("innolitics JSON: %w", err)
	}
	byTag := map[uint32]row{}
	for _, r := range rows {
		if r.wild == "" {
			byTag[r.tag] = r
		}
	}
	var diffs []string
	diff := func(d string) {
		if !knownEditionDiffs[d] {
			diffs = append(diffs, d)
		}
	}
	for _, m := range inno {
		t, err := parseTag(m["tag"])
		if err != nil {
			continue // wildcard rows
		}
		r, ok := byTag[t]
		if !ok {
			diff(fmt.Sprintf("%s in innolitics 2024b but not in Table E.1-1", m["tag"]))
			continue
		}
		if r.raw[0] != m["basicProfile"] {
			diff(fmt.Sprintf("%s basic %q vs %q", m["tag"], r.raw[0], m["basicProfile"]))
		}
		for i, k := range innoKeys {
			if r.raw[i+1] != m[k] {
				diff(fmt.Sprintf("%s %s %q vs %q", m["tag"], k, r.raw[i+1], m[k]))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("Table E.1-1 and the innolitics extraction disagree:\n%s", strings.Join(diffs, "\n"))
	}
	return nil
}

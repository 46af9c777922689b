package casemodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/printreg/printreg/pkg/registry"
)

// MaxSidecarBytes caps a case.json; a real one is a few kilobytes.
const MaxSidecarBytes = 64 << 10

// Sidecar is the lab's case.json: what only the 3D-printing lab knows.
type Sidecar struct {
	ObjectType          string                `json:"object_type"`
	IntendedUse         string                `json:"intended_use,omitempty"`
	IntendedUseText     string                `json:"intended_use_text,omitempty"`
	OrderingService     string                `json:"ordering_service,omitempty"`
	OrderingServiceText string                `json:"ordering_service_text,omitempty"`
	Indications         []registry.Indication `json:"indications,omitempty"`
	Parts               []registry.Part       `json:"parts,omitempty"`
	Guides              []registry.Guide      `json:"guides,omitempty"`
	Prints              []registry.Print      `json:"prints,omitempty"`
	Effort              *registry.Effort      `json:"effort,omitempty"`
	Procedure           *registry.Procedure   `json:"procedure,omitempty"`
	Assessment          *registry.Assessment  `json:"assessment,omitempty"`
}

// longText is the byte limit of the lab's longer free text.
const longText = 500

// FieldIssue is one validation failure: the field (a path such as
// prints[0].copies), a rule code and a sentence; what it shows never holds
// the value. Line and Column (from 1; columns count characters) place it in the
// document when ParseSidecar could tell where: the value of the field, the
// misspelt field name, the object a required field is missing from, or the
// character a JSON syntax error was found at.
type FieldIssue struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	// key is the unknown field name of an unknown_field issue, kept only
	// to find its position; it is never shown.
	key string
}

func (i FieldIssue) String() string {
	return fmt.Sprintf("%s: %s (rule %s)", i.Field, i.Message, i.Rule)
}

// SidecarError lists every problem found in a case.json (up to a cap).
type SidecarError struct {
	Issues []FieldIssue
}

// ErrInvalidSidecar is matched by errors.Is for every SidecarError.
var ErrInvalidSidecar = errors.New("invalid case.json")

func (e *SidecarError) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		parts[i] = is.String()
	}
	return "invalid case.json: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidSidecar) true.
func (e *SidecarError) Is(target error) bool { return target == ErrInvalidSidecar }

const maxIssues = 20

// ParseSidecar reads and validates a case.json against its JSON Schema
// (schema/case.v1.schema.json, embedded) and the rules beside it (see
// sidecar_schema.go). Comments (// and /* */) are
// allowed so a lab can start from config/case.example.jsonc. Every text field
// is screened for identifier patterns (e-mail, telephone, long numbers,
// dates, DICOM names, identifier labels); identifiers of the case itself are
// checked later, when the case's imaging is known. The error, a
// *SidecarError, names each field and rule and never repeats a value; each
// issue carries its line and column where they can be told.
func ParseSidecar(b []byte) (*Sidecar, error) {
	if len(b) > MaxSidecarBytes {
		return nil, &SidecarError{Issues: []FieldIssue{{Field: "(document)", Rule: "max_size",
			Message: fmt.Sprintf("is larger than %d bytes", MaxSidecarBytes)}}}
	}
	if !utf8.Valid(b) {
		return nil, &SidecarError{Issues: []FieldIssue{{Field: "(document)", Rule: "utf8", Message: "is not UTF-8 text"}}}
	}
	clean, ok := stripComments(b)
	if !ok {
		return nil, &SidecarError{Issues: []FieldIssue{{Field: "(document)", Rule: "json", Message: "has an unterminated comment or string"}}}
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &SidecarError{Issues: []FieldIssue{syntaxIssue(clean, err)}}
	}
	if dec.More() {
		is := FieldIssue{Field: "(document)", Rule: "json", Message: "has content after the JSON object"}
		is.Line, is.Column = lineColumn(clean, skipSpace(clean, int(dec.InputOffset())))
		return nil, &SidecarError{Issues: []FieldIssue{is}}
	}
	if issues := validateSidecar(doc, false); len(issues) > 0 {
		placeIssues(clean, issues)
		return nil, &SidecarError{Issues: issues}
	}
	// The document is valid: it is read as written, from the decoded value
	// (a field named twice counts once, as validated), text trimmed.
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, &SidecarError{Issues: []FieldIssue{{Field: "(document)", Rule: "json", Message: "cannot be encoded"}}}
	}
	s := &Sidecar{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, &SidecarError{Issues: []FieldIssue{{Field: "(document)", Rule: "json", Message: "cannot be read"}}}
	}
	s.mapText(strings.TrimSpace)
	return s, nil
}

// syntaxIssue describes a JSON syntax error by its position only (the
// characters around it could be an identifier).
func syntaxIssue(doc []byte, err error) FieldIssue {
	is := FieldIssue{Field: "(document)", Rule: "json", Message: "is not valid JSON"}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included.
		is.Line, is.Column = lineColumn(doc, int(se.Offset)-1)
		is.Message = fmt.Sprintf("is not valid JSON (syntax error at line %d, column %d)", is.Line, is.Column)
	case errors.Is(err, io.ErrUnexpectedEOF):
		is.Line, is.Column = lineColumn(doc, len(doc))
		is.Message = fmt.Sprintf("is not valid JSON (it ends at line %d, column %d before the document is complete)", is.Line, is.Column)
	case errors.Is(err, io.EOF):
		is.Message = "is empty (a case.json is one JSON object)"
	}
	return is
}

// lineColumn turns a byte offset into a line and a column (from 1, columns
// counting characters).
func lineColumn(doc []byte, off int) (line, col int) {
	off = max(0, min(off, len(doc)))
	start := bytes.LastIndexByte(doc[:off], '\n') + 1
	return bytes.Count(doc[:off], []byte{'\n'}) + 1, utf8.RuneCount(doc[start:off]) + 1
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// placeIssues sets the line and column of each issue: where the field's
// value starts, where an unknown field's name is, or, for a field that is
// missing, where the object that lacks it starts.
func placeIssues(doc []byte, issues []FieldIssue) {
	pos := map[string]int{}
	p := positions{doc: doc, at: pos}
	p.value("", 0)
	for i := range issues {
		path := issues[i].Field
		if path == "(document)" {
			path = ""
		}
		off, ok := -1, false
		if issues[i].key != "" {
			off, ok = pos[path+keyMark+issues[i].key]
		}
		for !ok {
			off, ok = pos[path]
			if ok || path == "" {
				break
			}
			path = parentPath(path)
		}
		if ok {
			issues[i].Line, issues[i].Column = lineColumn(doc, off)
		}
	}
}

// keyMark separates an object's path from one of its field names in the
// position map (no field path holds it).
const keyMark = "\x00"

// parentPath drops the last member or index of a field path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// positions records where each value of a well-formed JSON document starts,
// by the validator's field path (parts[0].laterality), and where each field
// name starts (path + keyMark + name).
type positions struct {
	doc []byte
	i   int
	at  map[string]int
}

func (p *positions) value(path string, depth int) {
	p.i = skipSpace(p.doc, p.i)
	if p.i >= len(p.doc) {
		return
	}
	// Below the deepest field of case.json no issue is placed: the value
	// is only skipped, so a deeply nested document costs no more paths.
	deep := depth > maxPlaceDepth
	if !deep {
		p.at[path] = p.i
	}
	switch p.doc[p.i] {
	case '{':
		p.i++
		for {
			p.i = skipSpace(p.doc, p.i)
			if p.i >= len(p.doc) || p.doc[p.i] == '}' {
				p.i++
				return
			}
			if p.doc[p.i] == ',' {
				p.i++
				continue
			}
			start := p.i
			p.str()
			var name string
			if !deep {
				if json.Unmarshal(p.doc[start:p.i], &name) != nil {
					return
				}
				p.at[path+keyMark+name] = start
			}
			p.i = skipSpace(p.doc, p.i)
			if p.i < len(p.doc) && p.doc[p.i] == ':' {
				p.i++
			}
			if deep {
				p.value("", depth+1)
			} else {
				p.value(join(path, name), depth+1)
			}
		}
	case '[':
		p.i++
		for n := 0; ; {
			p.i = skipSpace(p.doc, p.i)
			if p.i >= len(p.doc) || p.doc[p.i] == ']' {
				p.i++
				return
			}
			if p.doc[p.i] == ',' {
				p.i++
				continue
			}
			if deep {
				p.value("", depth+1)
			} else {
				p.value(idx(path, n), depth+1)
			}
			n++
		}
	case '"':
		p.str()
	default:
		start := p.i
		for p.i < len(p.doc) && !strings.ContainsRune(",]} \t\r\n", rune(p.doc[p.i])) {
			p.i++
		}
		if p.i == start {
			p.i++ // not JSON after all: never stand still
		}
	}
}

// maxPlaceDepth is deeper than any field of case.json (prints[0].parts[0]
// is four levels down).
const maxPlaceDepth = 8

// str moves past a string starting at p.i.
func (p *positions) str() {
	p.i++
	for p.i < len(p.doc) {
		switch p.doc[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			return
		}
		p.i++
	}
}

// stripComments blanks // and /* */ comments outside strings, keeping
// offsets, so JSON syntax errors still point at the right byte.
func stripComments(b []byte) ([]byte, bool) {
	out := bytes.Clone(b)
	inStr, esc := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for i < len(out) && out[i] != '\n' {
				out[i] = ' '
				i++
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				return nil, false
			}
			for j := i; j < i+2+end+2; j++ {
				if out[j] != '\n' {
					out[j] = ' '
				}
			}
			i += 2 + end + 1
		}
	}
	return out, !inStr
}

// normalized returns a deep copy, so the stored case never aliases the
// caller's slices.
func (s Sidecar) normalized() Sidecar {
	out := s
	out.Indications = nil
	for _, in := range s.Indications {
		out.Indications = append(out.Indications, registry.Indication{Text: in.Text, ICD10CM: slices.Clone(in.ICD10CM)})
	}
	out.Parts = slices.Clone(s.Parts)
	out.Guides = slices.Clone(s.Guides)
	out.Prints = nil
	for _, p := range s.Prints {
		p.Parts = slices.Clone(p.Parts)
		p.Guides = slices.Clone(p.Guides)
		out.Prints = append(out.Prints, p)
	}
	if s.Effort != nil {
		e := *s.Effort
		out.Effort = &e
	}
	if s.Procedure != nil {
		p := *s.Procedure
		out.Procedure = &p
	}
	if s.Assessment != nil {
		a := *s.Assessment
		if a.TimeSavedMinutes != nil {
			t := *a.TimeSavedMinutes
			a.TimeSavedMinutes = &t
		}
		out.Assessment = &a
	}
	return out
}

// texts visits every free-text field with its path, so sealing, opening and
// screening cover the same fields.
func (s *Sidecar) texts(visit func(path string, p *string)) {
	visit("lab.intended_use_text", &s.IntendedUseText)
	visit("lab.ordering_service_text", &s.OrderingServiceText)
	for i := range s.Indications {
		visit(idx("lab.indications", i)+".text", &s.Indications[i].Text)
	}
	for i := range s.Parts {
		p := idx("lab.parts", i)
		visit(p+".region", &s.Parts[i].Region)
		visit(p+".subregion", &s.Parts[i].Subregion)
		visit(p+".structure", &s.Parts[i].Structure)
		visit(p+".comment", &s.Parts[i].Comment)
	}
	for i := range s.Guides {
		visit(idx("lab.guides", i)+".comment", &s.Guides[i].Comment)
	}
	for i := range s.Prints {
		p := idx("lab.prints", i)
		visit(p+".printer.label", &s.Prints[i].Printer.Label)
		visit(p+".printer.manufacturer", &s.Prints[i].Printer.Manufacturer)
		visit(p+".printer.model", &s.Prints[i].Printer.Model)
		visit(p+".material", &s.Prints[i].Material)
	}
	if s.Procedure != nil {
		visit("lab.procedure.comment", &s.Procedure.Comment)
	}
	if s.Assessment != nil {
		visit("lab.assessment.comment", &s.Assessment.Comment)
	}
}

func (s *Sidecar) mapText(f func(string) string) {
	s.texts(func(_ string, p *string) { *p = f(*p) })
}

// checkSidecar validates a Sidecar value that did not come from ParseSidecar
// (or was stored sealed) by the same rules, through its JSON form.
func checkSidecar(s *Sidecar, sealed bool) []FieldIssue {
	b, err := json.Marshal(s)
	if err != nil {
		return []FieldIssue{{Field: "(document)", Rule: "json", Message: "cannot be encoded"}}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return []FieldIssue{{Field: "(document)", Rule: "json", Message: "cannot be encoded"}}
	}
	return validateSidecar(doc, sealed)
}

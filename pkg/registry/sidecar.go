package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSidecarBytes caps a case.json; a real one is a few kilobytes.
const MaxSidecarBytes = 64 << 10

// Object types of the registry form.
const (
	ObjectAnatomicModel = "anatomic_model"
	ObjectAnatomicGuide = "anatomic_guide"
)

// Value lists of case.json. They are the registry form's concepts as
// documented publicly; the JSON Schema (schema/case.v1.schema.json) lists
// the same values and a test keeps the two in step.
var (
	objectTypes  = []string{ObjectAnatomicModel, ObjectAnatomicGuide}
	intendedUses = []string{"diagnosis", "surgical_planning", "intraprocedural_guidance", "patient_education",
		"trainee_education", "device_sizing", "simulation", "research", "other"}
	orderingServices = []string{"cardiology", "cardiothoracic_surgery", "congenital_cardiac_surgery",
		"dentistry", "general_surgery", "hepatobiliary_surgery", "interventional_radiology", "neurosurgery",
		"obstetrics_gynecology", "ophthalmology", "oral_maxillofacial_surgery", "orthopedic_surgery",
		"otolaryngology", "pediatric_surgery", "plastic_surgery", "podiatry", "radiation_oncology", "radiology",
		"surgical_oncology", "thoracic_surgery", "transplant_surgery", "urology", "vascular_surgery", "other"}
	lateralities = []string{"left", "right", "bilateral", "midline", "not_applicable", "unknown"}
	guideTypes   = []string{"cutting", "drilling", "cutting_drilling", "positioning", "injection", "other"}
	technologies = []string{"binder_jetting", "directed_energy_deposition", "material_extrusion",
		"material_jetting", "powder_bed_fusion", "sheet_lamination", "vat_photopolymerization"}
	opticals      = []string{"opaque", "translucent", "transparent", "mixed"}
	procedureUses = []string{"yes", "no", "unknown"}
	effortKeys    = []string{"consultation", "segmentation", "cad", "post_processing"}
	staffKeys     = []string{"clinician", "non_clinician"}
)

var reICD10CM = regexp.MustCompile(`^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

// Sidecar is the lab's case.json: what only the 3D-printing lab knows.
type Sidecar struct {
	ObjectType          string       `json:"object_type"`
	IntendedUse         string       `json:"intended_use,omitempty"`
	IntendedUseText     string       `json:"intended_use_text,omitempty"`
	OrderingService     string       `json:"ordering_service,omitempty"`
	OrderingServiceText string       `json:"ordering_service_text,omitempty"`
	Indications         []Indication `json:"indications,omitempty"`
	Parts               []Part       `json:"parts,omitempty"`
	Guides              []Guide      `json:"guides,omitempty"`
	Prints              []Print      `json:"prints,omitempty"`
	Effort              *Effort      `json:"effort,omitempty"`
	Procedure           *Procedure   `json:"procedure,omitempty"`
	Assessment          *Assessment  `json:"assessment,omitempty"`
}

// Indication is one clinical indication: free text and/or ICD-10-CM codes.
type Indication struct {
	Text    string   `json:"text,omitempty"`
	ICD10CM []string `json:"icd10cm,omitempty"`
}

// Part is one anatomic part (component) of a model, dominant part first.
type Part struct {
	Region     string `json:"region,omitempty"`
	Subregion  string `json:"subregion,omitempty"`
	Structure  string `json:"structure,omitempty"`
	Laterality string `json:"laterality,omitempty"`
	Comment    string `json:"comment,omitempty"`
}

// Guide is one anatomic (surgical) guide.
type Guide struct {
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
}

// Printer is an entry of the site's printer list.
type Printer struct {
	Label        string `json:"label,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Technology   string `json:"technology,omitempty"` // ISO/ASTM 52900 process category
}

// Print is one set of parts on one printer at one scale in one material.
type Print struct {
	Parts    []int   `json:"parts,omitempty"`  // 1-based numbers into Parts
	Guides   []int   `json:"guides,omitempty"` // 1-based numbers into Guides
	Printer  Printer `json:"printer"`
	Material string  `json:"material,omitempty"`
	Scale    float64 `json:"scale,omitempty"` // 1 = life size
	Optical  string  `json:"optical,omitempty"`
	Copies   int     `json:"copies,omitempty"`
}

// Minutes is an effort time: a number of minutes, or unknown.
type Minutes struct {
	Unknown bool
	Value   int
}

// MarshalJSON writes a number of minutes or the string "unknown".
func (m Minutes) MarshalJSON() ([]byte, error) {
	if m.Unknown {
		return []byte(`"unknown"`), nil
	}
	return strconv.AppendInt(nil, int64(m.Value), 10), nil
}

// UnmarshalJSON reads a number of minutes or "unknown".
func (m *Minutes) UnmarshalJSON(b []byte) error {
	if string(b) == `"unknown"` {
		*m = Minutes{Unknown: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 || n > maxEffortMinutes {
		return errors.New("effort minutes must be a whole number from 0 to 10080 or \"unknown\"")
	}
	*m = Minutes{Value: n}
	return nil
}

const maxEffortMinutes = 7 * 24 * 60

// StaffMinutes splits an activity's time between clinicians (MD, DO, DDS,
// PA, NP …) and non-clinicians (engineers, technologists, scientists).
type StaffMinutes struct {
	Clinician    Minutes `json:"clinician"`
	NonClinician Minutes `json:"non_clinician"`
}

// Effort is the registry's eight timers.
type Effort struct {
	Consultation   StaffMinutes `json:"consultation"`
	Segmentation   StaffMinutes `json:"segmentation"`
	CAD            StaffMinutes `json:"cad"`
	PostProcessing StaffMinutes `json:"post_processing"`
}

// Procedure says whether the printed object was used in the procedure.
type Procedure struct {
	Used    string `json:"used"`
	Comment string `json:"comment,omitempty"`
}

// Assessment is the clinical user's assessment (Likert 1–5, 0 = not given).
type Assessment struct {
	ConfidenceBefore int    `json:"confidence_before,omitempty"`
	ConfidenceAfter  int    `json:"confidence_after,omitempty"`
	TimeSavedMinutes *int   `json:"time_saved_minutes,omitempty"`
	Comment          string `json:"comment,omitempty"`
}

// Text limits in bytes.
const (
	shortText = 64
	longText  = 500
)

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

// ParseSidecar reads and validates a case.json. Comments (// and /* */) are
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
	v := &validator{}
	s := v.sidecar(doc)
	if len(v.issues) > 0 {
		placeIssues(clean, v.issues)
		return nil, &SidecarError{Issues: v.issues}
	}
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
	p.value("")
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

func (p *positions) value(path string) {
	p.i = skipSpace(p.doc, p.i)
	if p.i >= len(p.doc) {
		return
	}
	p.at[path] = p.i
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
			if json.Unmarshal(p.doc[start:p.i], &name) != nil {
				return
			}
			p.at[path+keyMark+name] = start
			p.i = skipSpace(p.doc, p.i)
			if p.i < len(p.doc) && p.doc[p.i] == ':' {
				p.i++
			}
			p.value(join(path, name))
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
			p.value(idx(path, n))
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

type validator struct {
	issues []FieldIssue
	// sealed: text fields hold sealed values (a stored sidecar being
	// checked); they are accepted as they are.
	sealed bool
}

func (v *validator) fail(field, rule, msg string) {
	if len(v.issues) < maxIssues {
		v.issues = append(v.issues, FieldIssue{Field: field, Rule: rule, Message: msg})
	}
}

// failKey is fail for an unknown field name k, whose position is looked up
// later; k itself is never shown.
func (v *validator) failKey(field, k, msg string) {
	if len(v.issues) < maxIssues {
		v.issues = append(v.issues, FieldIssue{Field: field, Rule: "unknown_field", Message: msg, key: k})
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// closest returns the allowed name within two edits of k (case and
// separators aside), or "".
func closest(k string, allowed []string) string {
	norm := func(s string) string { return strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(s)) }
	k = norm(k)
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(k, a, bestD); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// at least limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if abs(len(ra)-len(rb)) >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			c := prev[j-1]
			if ra[i-1] != rb[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// object checks that val is an object with only the allowed keys and the
// required ones present.
func (v *validator) object(path string, val any, allowed, required []string) (map[string]any, bool) {
	m, ok := val.(map[string]any)
	if !ok {
		v.fail(orDoc(path), "type", "must be an object")
		return nil, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// An unknown key is never echoed: a lab may have typed a patient's name
	// or record number where a field name belongs. The closest field of the
	// schema is suggested instead.
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			msg := "has a field name that is not part of case.json v1"
			if near := closest(k, allowed); near != "" {
				msg += "; did you mean " + strconv.Quote(near) + "?"
			}
			v.failKey(orDoc(path), k, msg)
		}
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			v.fail(join(path, k), "required", "is required")
		}
	}
	return m, true
}

func orDoc(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

func (v *validator) text(path string, val any, max int) string {
	s, ok := val.(string)
	if !ok {
		v.fail(path, "type", "must be a string")
		return ""
	}
	if v.sealed {
		if !strings.HasPrefix(s, sealPrefix) {
			v.fail(path, "sealed", "must be sealed text")
		}
		return s
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		v.fail(path, "min_length", "must not be empty")
	case len(s) > max:
		v.fail(path, "max_length", fmt.Sprintf("must be at most %d bytes", max))
	default:
		if err := ScreenPatterns(path, s); err != nil {
			var se *ScreenError
			errors.As(err, &se)
			v.fail(path, se.Rule, "refused: "+ruleText[se.Rule])
			return ""
		}
	}
	return s
}

func (v *validator) enum(path string, val any, values []string) string {
	s, ok := val.(string)
	if !ok {
		v.fail(path, "type", "must be a string")
		return ""
	}
	if !slices.Contains(values, s) {
		// The value is never echoed; the schema's value nearest to it (in
		// other letter case, or within two edits) is offered instead, first,
		// so that a shortened copy of the message (a DLQ header) keeps it.
		msg := "must be one of " + strings.Join(values, ", ")
		if near := closest(s, values); near != "" {
			msg = "did you mean " + strconv.Quote(near) + "? (" + msg + ")"
		}
		v.fail(path, "enum", msg)
		return ""
	}
	return s
}

func (v *validator) integer(path string, val any, lo, hi int) (int, bool) {
	n, ok := val.(json.Number)
	if ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i >= int64(lo) && i <= int64(hi) {
			return int(i), true
		}
	}
	v.fail(path, "range", fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	return 0, false
}

func (v *validator) array(path string, val any, lo, hi int) []any {
	a, ok := val.([]any)
	if !ok {
		v.fail(path, "type", "must be an array")
		return nil
	}
	switch {
	case len(a) < lo:
		v.fail(path, "min_items", fmt.Sprintf("must have at least %d item(s)", lo))
	case len(a) > hi:
		v.fail(path, "max_items", fmt.Sprintf("must have at most %d items", hi))
		return a[:hi]
	}
	return a
}

func (v *validator) sidecar(doc any) *Sidecar {
	top := []string{"$schema", "object_type", "intended_use", "intended_use_text", "ordering_service",
		"ordering_service_text", "indications", "parts", "guides", "prints", "effort", "procedure", "assessment"}
	m, ok := v.object("", doc, top, []string{"object_type"})
	if !ok {
		return nil
	}
	s := &Sidecar{}
	if x, ok := m["$schema"]; ok {
		if _, isStr := x.(string); !isStr {
			v.fail("$schema", "type", "must be a string")
		}
	}
	if x, ok := m["object_type"]; ok {
		s.ObjectType = v.enum("object_type", x, objectTypes)
	}
	if x, ok := m["intended_use"]; ok {
		s.IntendedUse = v.enum("intended_use", x, intendedUses)
	}
	if x, ok := m["intended_use_text"]; ok {
		s.IntendedUseText = v.text("intended_use_text", x, longText)
	}
	if x, ok := m["ordering_service"]; ok {
		s.OrderingService = v.enum("ordering_service", x, orderingServices)
	}
	if x, ok := m["ordering_service_text"]; ok {
		s.OrderingServiceText = v.text("ordering_service_text", x, shortText)
	}
	if x, ok := m["indications"]; ok {
		for i, it := range v.array("indications", x, 1, 10) {
			s.Indications = append(s.Indications, v.indication(idx("indications", i), it))
		}
	}
	if x, ok := m["parts"]; ok {
		for i, it := range v.array("parts", x, 1, 20) {
			s.Parts = append(s.Parts, v.part(idx("parts", i), it))
		}
	}
	if x, ok := m["guides"]; ok {
		if s.ObjectType == ObjectAnatomicModel {
			v.fail("guides", "dependency", "is only for object_type anatomic_guide")
		}
		for i, it := range v.array("guides", x, 1, 20) {
			p := idx("guides", i)
			gm, ok := v.object(p, it, []string{"type", "comment"}, []string{"type"})
			if !ok {
				continue
			}
			var g Guide
			if t, ok := gm["type"]; ok {
				g.Type = v.enum(join(p, "type"), t, guideTypes)
			}
			if c, ok := gm["comment"]; ok {
				g.Comment = v.text(join(p, "comment"), c, longText)
			}
			s.Guides = append(s.Guides, g)
		}
	}
	if x, ok := m["prints"]; ok {
		for i, it := range v.array("prints", x, 1, 5) {
			s.Prints = append(s.Prints, v.print(idx("prints", i), it, len(s.Parts), len(s.Guides)))
		}
	}
	if x, ok := m["effort"]; ok {
		s.Effort = v.effort("effort", x)
	}
	if x, ok := m["procedure"]; ok {
		if pm, ok := v.object("procedure", x, []string{"used", "comment"}, []string{"used"}); ok {
			p := &Procedure{}
			if u, ok := pm["used"]; ok {
				p.Used = v.enum("procedure.used", u, procedureUses)
			}
			if c, ok := pm["comment"]; ok {
				p.Comment = v.text("procedure.comment", c, longText)
			}
			s.Procedure = p
		}
	}
	if x, ok := m["assessment"]; ok {
		s.Assessment = v.assessment("assessment", x)
	}
	return s
}

func (v *validator) indication(p string, it any) Indication {
	var ind Indication
	m, ok := v.object(p, it, []string{"text", "icd10cm"}, nil)
	if !ok {
		return ind
	}
	if t, ok := m["text"]; ok {
		ind.Text = v.text(join(p, "text"), t, longText)
	}
	if c, ok := m["icd10cm"]; ok {
		for j, code := range v.array(join(p, "icd10cm"), c, 1, 10) {
			cp := idx(join(p, "icd10cm"), j)
			cs, isStr := code.(string)
			switch {
			case !isStr:
				v.fail(cp, "type", "must be a string")
			case !reICD10CM.MatchString(cs):
				v.fail(cp, "pattern", "must be an ICD-10-CM code such as Q21.3 (capital letters, dot after three characters)")
			case slices.Contains(ind.ICD10CM, cs):
				v.fail(cp, "unique", "repeats a code listed before")
			default:
				ind.ICD10CM = append(ind.ICD10CM, cs)
			}
		}
	}
	_, hasText := m["text"]
	_, hasCode := m["icd10cm"]
	if !hasText && !hasCode {
		v.fail(p, "required", "needs text or icd10cm")
	}
	return ind
}

func (v *validator) part(p string, it any) Part {
	var pt Part
	m, ok := v.object(p, it, []string{"region", "subregion", "structure", "laterality", "comment"}, []string{"region", "structure"})
	if !ok {
		return pt
	}
	if x, ok := m["region"]; ok {
		pt.Region = v.text(join(p, "region"), x, shortText)
	}
	if x, ok := m["subregion"]; ok {
		pt.Subregion = v.text(join(p, "subregion"), x, shortText)
	}
	if x, ok := m["structure"]; ok {
		pt.Structure = v.text(join(p, "structure"), x, shortText)
	}
	if x, ok := m["laterality"]; ok {
		pt.Laterality = v.enum(join(p, "laterality"), x, lateralities)
	}
	if x, ok := m["comment"]; ok {
		pt.Comment = v.text(join(p, "comment"), x, longText)
	}
	return pt
}

func (v *validator) refs(p string, val any, n int, what string) []int {
	var out []int
	for j, r := range v.array(p, val, 1, 20) {
		rp := idx(p, j)
		k, ok := v.integer(rp, r, 1, 20)
		switch {
		case !ok:
		case k > n:
			v.fail(rp, "reference", fmt.Sprintf("must name one of the %d %s listed (numbered from 1)", n, what))
		case slices.Contains(out, k):
			v.fail(rp, "unique", "repeats a number listed before")
		default:
			out = append(out, k)
		}
	}
	return out
}

func (v *validator) print(p string, it any, nParts, nGuides int) Print {
	var pr Print
	m, ok := v.object(p, it, []string{"parts", "guides", "printer", "material", "scale", "optical", "copies"}, []string{"printer", "material"})
	if !ok {
		return pr
	}
	if x, ok := m["parts"]; ok {
		pr.Parts = v.refs(join(p, "parts"), x, nParts, "parts")
	}
	if x, ok := m["guides"]; ok {
		pr.Guides = v.refs(join(p, "guides"), x, nGuides, "guides")
	}
	if x, ok := m["printer"]; ok {
		pp := join(p, "printer")
		if pm, ok := v.object(pp, x, []string{"label", "manufacturer", "model", "technology"}, []string{"technology"}); ok {
			if y, ok := pm["label"]; ok {
				pr.Printer.Label = v.text(join(pp, "label"), y, shortText)
			}
			if y, ok := pm["manufacturer"]; ok {
				pr.Printer.Manufacturer = v.text(join(pp, "manufacturer"), y, shortText)
			}
			if y, ok := pm["model"]; ok {
				pr.Printer.Model = v.text(join(pp, "model"), y, shortText)
			}
			if y, ok := pm["technology"]; ok {
				pr.Printer.Technology = v.enum(join(pp, "technology"), y, technologies)
			}
			_, l := pm["label"]
			_, mf := pm["manufacturer"]
			_, md := pm["model"]
			if !l && !mf && !md {
				v.fail(pp, "required", "needs label, or manufacturer and model")
			}
		}
	}
	if x, ok := m["material"]; ok {
		pr.Material = v.text(join(p, "material"), x, shortText)
	}
	if x, ok := m["scale"]; ok {
		n, isNum := x.(json.Number)
		f, err := strconv.ParseFloat(string(n), 64)
		if !isNum || err != nil || math.IsNaN(f) || f <= 0 || f > 10 {
			v.fail(join(p, "scale"), "range", "must be a number above 0 and at most 10 (1 = life size)")
		} else {
			pr.Scale = f
		}
	}
	if x, ok := m["optical"]; ok {
		pr.Optical = v.enum(join(p, "optical"), x, opticals)
	}
	if x, ok := m["copies"]; ok {
		pr.Copies, _ = v.integer(join(p, "copies"), x, 1, 100)
	}
	return pr
}

func (v *validator) effort(p string, x any) *Effort {
	m, ok := v.object(p, x, effortKeys, effortKeys)
	if !ok {
		return nil
	}
	e := &Effort{}
	dst := []*StaffMinutes{&e.Consultation, &e.Segmentation, &e.CAD, &e.PostProcessing}
	for i, k := range effortKeys {
		y, ok := m[k]
		if !ok {
			continue
		}
		ap := join(p, k)
		sm, ok := v.object(ap, y, staffKeys, staffKeys)
		if !ok {
			continue
		}
		for j, sk := range staffKeys {
			z, ok := sm[sk]
			if !ok {
				continue
			}
			var mm Minutes
			switch zs, isStr := z.(string); {
			case isStr && zs == "unknown":
				mm.Unknown = true
			case isStr:
				v.fail(join(ap, sk), "type", "must be a whole number of minutes or \"unknown\"")
			default:
				mm.Value, _ = v.integer(join(ap, sk), z, 0, maxEffortMinutes)
			}
			if j == 0 {
				dst[i].Clinician = mm
			} else {
				dst[i].NonClinician = mm
			}
		}
	}
	return e
}

func (v *validator) assessment(p string, x any) *Assessment {
	m, ok := v.object(p, x, []string{"confidence_before", "confidence_after", "time_saved_minutes", "comment"}, nil)
	if !ok {
		return nil
	}
	a := &Assessment{}
	if y, ok := m["confidence_before"]; ok {
		a.ConfidenceBefore, _ = v.integer(join(p, "confidence_before"), y, 1, 5)
	}
	if y, ok := m["confidence_after"]; ok {
		a.ConfidenceAfter, _ = v.integer(join(p, "confidence_after"), y, 1, 5)
	}
	if y, ok := m["time_saved_minutes"]; ok {
		if n, ok := v.integer(join(p, "time_saved_minutes"), y, -1440, 1440); ok {
			a.TimeSavedMinutes = &n
		}
	}
	if y, ok := m["comment"]; ok {
		a.Comment = v.text(join(p, "comment"), y, longText)
	}
	return a
}

// normalized returns a deep copy, so the stored case never aliases the
// caller's slices.
func (s Sidecar) normalized() Sidecar {
	out := s
	out.Indications = nil
	for _, in := range s.Indications {
		out.Indications = append(out.Indications, Indication{Text: in.Text, ICD10CM: slices.Clone(in.ICD10CM)})
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
	v := &validator{sealed: sealed}
	v.sidecar(doc)
	return v.issues
}

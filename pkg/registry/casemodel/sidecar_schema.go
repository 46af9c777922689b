package casemodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/textnorm"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// The structure of case.json is the JSON Schema schema/case.v1.schema.json,
// embedded in Schemas: what the lab reads is what the workers check. The
// schema decides; this file turns its verdict into FieldIssues (a field
// path, a rule, a sentence that never holds a value, in the schema's order
// of fields) and adds what a schema cannot say:
//   - free text is trimmed, must not then be empty, is limited in bytes
//     (the schema's maxLength read as bytes, as it is stored), and is
//     screened for identifiers (screen.go);
//   - whole numbers are written as such (7, not 7.0 or 7e0) and numbers are
//     read as they are stored (float64);
//   - print part and guide numbers name parts and guides that are listed;
//   - a repeated value is named at each repetition;
//   - a stored (sealed) case.json holds sealed text.
//
// The schema sees a bounded copy of the document: at most one item more
// than an array may hold, nothing under a field the schema does not know,
// and numbers as float64, so a hostile document costs no more than a
// legitimate one.

// caseSchema is the compiled case.json schema with what the validator
// needs beside it.
type caseSchema struct {
	root *jsonschema.Schema
	// order lists each object's properties as the schema file does (by
	// the JSON pointer of the object's schema); issues follow it.
	order map[string][]string
}

// sidecarSchema compiles the embedded schema once; the embedded file is
// part of the program, so a failure is a programming error.
var sidecarSchema = sync.OnceValue(func() *caseSchema {
	cs, err := compileSidecarSchema()
	if err != nil {
		panic("registry: the embedded case.json schema: " + err.Error())
	}
	return cs
})

func compileSidecarSchema() (*caseSchema, error) {
	b, err := registry.Schemas.ReadFile(registry.SidecarSchemaFile)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(registry.SidecarSchemaID, doc); err != nil {
		return nil, err
	}
	root, err := c.Compile(registry.SidecarSchemaID)
	if err != nil {
		return nil, err
	}
	order, err := propertyOrder(b)
	if err != nil {
		return nil, err
	}
	return &caseSchema{root: root, order: order}, nil
}

// propertyOrder reads the order of the names under every "properties" of a
// schema file, by the JSON pointer of the schema that holds them.
func propertyOrder(b []byte) (map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	out := map[string][]string{}
	var value func(ptr string) error
	value = func(ptr string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if parent, ok := strings.CutSuffix(ptr, "/properties"); ok {
					out[parent] = append(out[parent], k)
				}
				if err := value(ptr + "/" + pointerEscape(k)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := value(ptr + "/" + strconv.Itoa(i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	return out, value("")
}

func pointerEscape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// pointer is a schema's JSON pointer inside the schema file.
func pointer(s *jsonschema.Schema) string {
	_, p, _ := strings.Cut(s.Location, "#")
	return p
}

// deref follows $ref: a property that refers to a definition (with at
// most a description beside the reference) is that definition.
func deref(s *jsonschema.Schema) *jsonschema.Schema {
	for s.Ref != nil {
		s = s.Ref
	}
	return s
}

// The kinds of schema node case.json has; node classifies one.
type nodeKind int

const (
	nodeOther   nodeKind = iota
	nodeObject           // type object: properties, required, additionalProperties false, anyOf of required
	nodeArray            // type array: minItems, maxItems, uniqueItems, items
	nodeText             // type string with maxLength: free text
	nodePattern          // type string with a pattern (codes)
	nodeString           // type string, nothing more
	nodeEnum             // enum of strings
	nodeInteger          // type integer with minimum and maximum
	nodeNumber           // type number with exclusiveMinimum and maximum
	nodeMinutes          // oneOf: a whole number in a range, or a constant word
)

func node(s *jsonschema.Schema) nodeKind {
	var types []string
	if s.Types != nil {
		types = s.Types.ToStrings()
	}
	switch {
	case s.Enum != nil:
		return nodeEnum
	case len(s.OneOf) == 2 && minutesBounds(s) != nil:
		return nodeMinutes
	case len(types) != 1:
		return nodeOther
	}
	switch types[0] {
	case "object":
		return nodeObject
	case "array":
		return nodeArray
	case "string":
		switch {
		case s.MaxLength != nil:
			return nodeText
		case s.Pattern != nil:
			return nodePattern
		}
		return nodeString
	case "integer":
		if s.Minimum != nil && s.Maximum != nil {
			return nodeInteger
		}
	case "number":
		if s.ExclusiveMinimum != nil && s.Maximum != nil {
			return nodeNumber
		}
	}
	return nodeOther
}

// minutesBounds returns the integer branch of a oneOf of a bounded integer
// and a constant word, or nil.
func minutesBounds(s *jsonschema.Schema) *jsonschema.Schema {
	n, w := deref(s.OneOf[0]), deref(s.OneOf[1])
	if w.Const == nil || node(n) != nodeInteger {
		return nil
	}
	if _, ok := (*w.Const).(string); !ok {
		return nil
	}
	return n
}

// The sentences only a person can write: by the JSON pointer of the schema
// node they describe.
var (
	// needsText explains an anyOf of required fields.
	needsText = map[string]string{
		"/$defs/indication":               "needs text or icd10cm",
		"/$defs/print/properties/printer": "needs label, or manufacturer and model",
	}
	// patternText explains a pattern.
	patternText = map[string]string{
		"/$defs/indication/properties/icd10cm/items": "must be an ICD-10-CM code such as Q21.3 (capital letters, dot after three characters)",
	}
	// numberHint follows a number's range.
	numberHint = map[string]string{
		"/$defs/print/properties/scale": " (1 = life size)",
	}
	// excludedText explains a field an if/then excludes.
	excludedText = map[string]string{
		"/allOf/0/then": "is only for object_type anatomic_guide",
	}
)

// ratInt returns a schema bound that is a whole number.
func ratInt(r *big.Rat) int { return int(r.Num().Int64()) }

func ratText(r *big.Rat) string { return r.RatString() }

// checker validates one decoded case.json against the schema and the rules
// beside it.
type checker struct {
	cs     *caseSchema
	doc    any
	errs   map[string][]*jsonschema.ValidationError // by instance location
	issues []FieldIssue
	n      int // issues found, kept or not
	// sealed: text fields hold sealed values (a stored sidecar being
	// checked); they are accepted as they are.
	sealed bool
}

// validateSidecar returns the issues of a decoded case.json (numbers as
// json.Number), at most maxIssues, in the schema's order of fields.
func validateSidecar(doc any, sealed bool) []FieldIssue {
	cs := sidecarSchema()
	c := &checker{cs: cs, doc: doc, errs: map[string][]*jsonschema.ValidationError{}, sealed: sealed}
	if err := cs.root.Validate(boundedCopy(doc, cs.root)); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return []FieldIssue{{Field: "(document)", Rule: "json", Message: "cannot be checked"}}
		}
		c.index(ve)
	}
	c.value(doc, cs.root, "", nil)
	return c.issues
}

// boundedCopy is what the schema sees of v: arrays cut one item past their
// maxItems, fields the schema does not know kept without their values, and
// numbers as float64 (beyond its range: the largest float64 of that sign).
func boundedCopy(v any, s *jsonschema.Schema) any {
	s = deref(s)
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, y := range x {
			if ps, ok := s.Properties[k]; ok {
				out[k] = boundedCopy(y, ps)
			} else {
				out[k] = nil
			}
		}
		return out
	case []any:
		if s.MaxItems != nil && len(x) > *s.MaxItems+1 {
			x = x[:*s.MaxItems+1]
		}
		out := make([]any, len(x))
		for i, y := range x {
			if s.Items2020 != nil {
				out[i] = boundedCopy(y, s.Items2020)
			}
		}
		return out
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && math.IsInf(f, 0) {
			f = math.Copysign(math.MaxFloat64, f)
		}
		return f
	}
	return v
}

// index files the schema's errors by instance location. Errors that
// combine others (anyOf, oneOf) are filed whole: their branches are not
// separate issues.
func (c *checker) index(ve *jsonschema.ValidationError) {
	switch ve.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, sub := range ve.Causes {
			c.index(sub)
		}
		return
	}
	k := strings.Join(ve.InstanceLocation, "\x00")
	c.errs[k] = append(c.errs[k], ve)
}

// errAt returns the schema's error of kind K at an instance location.
func errAt[K jsonschema.ErrorKind](c *checker, loc []string) (K, *jsonschema.ValidationError) {
	for _, ve := range c.errs[strings.Join(loc, "\x00")] {
		if k, ok := ve.ErrorKind.(K); ok {
			return k, ve
		}
	}
	var zero K
	return zero, nil
}

func (c *checker) failed(loc []string) bool { return len(c.errs[strings.Join(loc, "\x00")]) > 0 }

func (c *checker) fail(field, rule, msg string) {
	c.n++
	if len(c.issues) < maxIssues {
		c.issues = append(c.issues, FieldIssue{Field: field, Rule: rule, Message: msg})
	}
}

// failKey is fail for an unknown field name k, whose position is looked up
// later; k itself is never shown.
func (c *checker) failKey(field, k, msg string) {
	c.n++
	if len(c.issues) < maxIssues {
		c.issues = append(c.issues, FieldIssue{Field: field, Rule: "unknown_field", Message: msg, key: k})
	}
}

// value reports the issues of v, at path (loc: its instance location),
// against schema s.
func (c *checker) value(v any, s *jsonschema.Schema, path string, loc []string) {
	s = deref(s)
	switch node(s) {
	case nodeObject:
		c.object(v, s, path, loc)
	case nodeArray:
		c.array(v, s, path, loc)
	case nodeText:
		c.text(v, s, path, loc)
	case nodePattern:
		if _, ve := errAt[*kind.Type](c, loc); ve != nil {
			c.fail(path, "type", "must be a string")
		} else if _, ve := errAt[*kind.Pattern](c, loc); ve != nil {
			c.fail(path, "pattern", patternText[pointer(s)])
		}
	case nodeString:
		if c.failed(loc) {
			c.fail(orDoc(path), "type", "must be a string")
		}
	case nodeEnum:
		c.enum(v, s, path, loc)
	case nodeInteger:
		c.integer(v, s, path, loc)
	case nodeNumber:
		n, isNum := v.(json.Number)
		_, err := strconv.ParseFloat(string(n), 64)
		if c.failed(loc) || !isNum || err != nil {
			c.fail(path, "range", fmt.Sprintf("must be a number above %s and at most %s%s",
				ratText(s.ExclusiveMinimum), ratText(s.Maximum), numberHint[pointer(s)]))
		}
	case nodeMinutes:
		n := minutesBounds(s)
		word := (*deref(s.OneOf[1]).Const).(string)
		if _, isStr := v.(string); isStr && v != word {
			c.fail(path, "type", fmt.Sprintf("must be a whole number of minutes or %q", word))
		} else if !isStr {
			c.integer(v, n, path, loc)
		}
	default:
		if c.failed(loc) {
			c.fail(orDoc(path), "schema", "does not match the case.json schema")
		}
	}
}

func (c *checker) object(v any, s *jsonschema.Schema, path string, loc []string) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(orDoc(path), "type", "must be an object")
		return
	}
	allowed := c.cs.order[pointer(s)]
	// An unknown key is never echoed: a lab may have typed a patient's name
	// or record number where a field name belongs. The closest field of the
	// schema is suggested instead.
	if k, _ := errAt[*kind.AdditionalProperties](c, loc); k != nil {
		keys := slices.Clone(k.Properties)
		sort.Strings(keys)
		for _, key := range keys {
			if len(c.issues) >= maxIssues {
				c.n++ // no sentence to write
				continue
			}
			msg := "has a field name that is not part of case.json v1"
			if near := closest(key, allowed); near != "" {
				msg += "; did you mean " + strconv.Quote(near) + "?"
			}
			c.failKey(orDoc(path), key, msg)
		}
	}
	if k, _ := errAt[*kind.Required](c, loc); k != nil {
		for _, key := range k.Missing {
			c.fail(join(path, key), "required", "is required")
		}
	}
	for _, key := range allowed {
		x, ok := m[key]
		if !ok {
			continue
		}
		if msg := c.excluded(s, loc, key); msg != "" {
			c.fail(join(path, key), "dependency", msg)
		}
		c.value(x, s.Properties[key], join(path, key), append(loc[:len(loc):len(loc)], key))
	}
	if _, ve := errAt[*kind.AnyOf](c, loc); ve != nil {
		c.fail(orDoc(path), "required", needsText[pointer(s)])
	}
}

// excluded returns the sentence for a field an if/then of s excludes
// (then: not: required: [key]) when the schema found it where it is
// excluded, or "".
func (c *checker) excluded(s *jsonschema.Schema, loc []string, key string) string {
	for _, a := range s.AllOf {
		if a.Then == nil || a.Then.Not == nil || !slices.Equal(a.Then.Not.Required, []string{key}) {
			continue
		}
		for _, ve := range c.errs[strings.Join(loc, "\x00")] {
			if _, ok := ve.ErrorKind.(*kind.Not); ok && ve.SchemaURL == a.Then.Location {
				return excludedText[pointer(a.Then)]
			}
		}
	}
	return ""
}

// array reports an array's issues and those of its items, up to its
// maxItems.
func (c *checker) array(v any, s *jsonschema.Schema, path string, loc []string) {
	a, ok := v.([]any)
	if !ok {
		c.fail(path, "type", "must be an array")
		return
	}
	if k, _ := errAt[*kind.MinItems](c, loc); k != nil {
		c.fail(path, "min_items", fmt.Sprintf("must have at least %d item(s)", k.Want))
	}
	if k, _ := errAt[*kind.MaxItems](c, loc); k != nil {
		c.fail(path, "max_items", fmt.Sprintf("must have at most %d items", k.Want))
		a = a[:k.Want]
	}
	refs := c.references(path)
	_, repeated := errAt[*kind.UniqueItems](c, loc)
	var seen []any // items without an issue
	for i, x := range a {
		p, l := idx(path, i), append(loc[:len(loc):len(loc)], strconv.Itoa(i))
		before := c.n
		c.value(x, s.Items2020, p, l)
		if refs != nil && c.n == before {
			if k, _ := strconv.Atoi(fmt.Sprint(x)); k > refs.n {
				c.fail(p, "reference", fmt.Sprintf("must name one of the %d %s listed (numbered from 1)", refs.n, refs.what))
			}
		}
		if c.n != before {
			continue
		}
		// The schema said some items are equal; each repetition is named.
		if repeated != nil && slices.Contains(seen, x) {
			what := "code"
			if node(deref(s.Items2020)) == nodeInteger {
				what = "number"
			}
			c.fail(p, "unique", "repeats a "+what+" listed before")
			continue
		}
		seen = append(seen, x)
	}
}

// listed is how many parts or guides a print's numbers may name.
type listed struct {
	n    int
	what string
}

// references returns, for a print's parts or guides, how many parts or
// guides case.json lists: a part however it is written, a guide when it
// is an object, up to the most a list may hold; nil for other arrays.
func (c *checker) references(path string) *listed {
	_, what, ok := strings.Cut(path, "].")
	if !ok || !strings.HasPrefix(path, "prints[") || (what != "parts" && what != "guides") {
		return nil
	}
	top, _ := c.doc.(map[string]any)
	a, _ := top[what].([]any)
	if s := deref(c.cs.root.Properties[what]); s.MaxItems != nil && len(a) > *s.MaxItems {
		a = a[:*s.MaxItems]
	}
	r := &listed{what: what}
	for _, x := range a {
		if _, isObj := x.(map[string]any); isObj || what == "parts" {
			r.n++
		}
	}
	return r
}

func (c *checker) text(v any, s *jsonschema.Schema, path string, loc []string) {
	str, ok := v.(string)
	if !ok {
		c.fail(path, "type", "must be a string")
		return
	}
	if c.sealed {
		if !strings.HasPrefix(str, sealPrefix) {
			c.fail(path, "sealed", "must be sealed text")
		}
		return
	}
	// The schema's lengths count characters of the text as written; the
	// text is kept trimmed, and its limit holds for its bytes.
	str = strings.TrimSpace(str)
	switch {
	case str == "":
		c.fail(path, "min_length", "must not be empty")
	case len(str) > *s.MaxLength:
		c.fail(path, "max_length", fmt.Sprintf("must be at most %d bytes", *s.MaxLength))
	default:
		if err := ScreenPatterns(path, str); err != nil {
			var se *ScreenError
			errors.As(err, &se)
			c.fail(path, se.Rule, "refused: "+ruleText[se.Rule])
		}
	}
}

func (c *checker) enum(v any, s *jsonschema.Schema, path string, loc []string) {
	if !c.failed(loc) {
		return
	}
	str, ok := v.(string)
	if !ok {
		c.fail(path, "type", "must be a string")
		return
	}
	values := make([]string, 0, len(s.Enum.Values))
	for _, x := range s.Enum.Values {
		values = append(values, fmt.Sprint(x))
	}
	// The value is never echoed; the schema's value nearest to it (in other
	// letter case, or within two edits) is offered instead, first, so that
	// a shortened copy of the message (a DLQ header) keeps it.
	msg := "must be one of " + strings.Join(values, ", ")
	if near := closest(str, values); near != "" {
		msg = "did you mean " + strconv.Quote(near) + "? (" + msg + ")"
	}
	c.fail(path, "enum", msg)
}

// integer: the schema's type and range, and a whole number written as one.
func (c *checker) integer(v any, s *jsonschema.Schema, path string, loc []string) {
	n, isNum := v.(json.Number)
	_, err := strconv.ParseInt(string(n), 10, 64)
	if c.failed(loc) || !isNum || err != nil {
		c.fail(path, "range", fmt.Sprintf("must be a whole number from %d to %d", ratInt(s.Minimum), ratInt(s.Maximum)))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func orDoc(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// separatorsAsUnderscore makes "-" and " " read as "_" in names.
var separatorsAsUnderscore = strings.NewReplacer("-", "_", " ", "_")

// closest returns the allowed name within two edits of k (case, accents,
// full-width forms and separators aside), or "".
func closest(k string, allowed []string) string {
	k = separatorsAsUnderscore.Replace(textnorm.Fold(k))
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

package confval

import (
	"reflect"
	"strings"
)

// A numeric field tagged `confval:"positive"` takes its default when it is
// zero or negative; other fields take it only when zero, so that a
// negative value can mean something of its own (“disabled”) or be refused
// by the package's validation. Negatives lists the positive fields a
// configuration file set negative.
const tagKey, positive = "confval", "positive"

// FillDefaults sets every exported field of the struct c points to that is
// unset from the same field of def, the package's defaults: a number,
// string or list is unset when it is zero or empty, and a number tagged
// `confval:"positive"` also when it is negative. Booleans, structs,
// pointers and maps are left alone: a zero there is a value, or the field
// has defaults of its own.
func FillDefaults[T any](c *T, def T) {
	v, d := reflect.ValueOf(c).Elem(), reflect.ValueOf(def)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		var unset bool
		switch fv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			unset = fv.Int() == 0 || negative(fv) && isPositive(f)
		case reflect.Float32, reflect.Float64:
			unset = fv.Float() == 0 || negative(fv) && isPositive(f)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			unset = fv.Uint() == 0
		case reflect.String, reflect.Slice:
			unset = fv.Len() == 0
		}
		if unset {
			fv.Set(d.Field(i))
		}
	}
}

func isPositive(f reflect.StructField) bool { return f.Tag.Get(tagKey) == positive }

// negative reports a signed number below zero.
func negative(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() < 0
	case reflect.Float32, reflect.Float64:
		return v.Float() < 0
	}
	return false
}

// Negatives returns the YAML paths (prefix, then the keys joined by ".")
// of the fields tagged `confval:"positive"` that are negative in the
// struct cfg (or the struct it points to), walking nested and inlined structs as the YAML decoder does
// and skipping fields YAML skips ("-"). It is how a configuration check
// refuses a negative value that the package would quietly replace by its
// default.
func Negatives(cfg any, prefix string) []string {
	var out []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct {
				p := path
				if !(f.Anonymous && name == "" && strings.Contains(opts, "inline")) {
					p = join(path, yamlName(f, name))
				}
				walk(fv, p)
				continue
			}
			if isPositive(f) && negative(fv) {
				out = append(out, join(path, yamlName(f, name)))
			}
		}
	}
	walk(reflect.Indirect(reflect.ValueOf(cfg)), prefix)
	return out
}

// yamlName is the key the YAML decoder uses for f: its tag's name, else
// the field's name in lower case.
func yamlName(f reflect.StructField, tagName string) string {
	if tagName != "" {
		return tagName
	}
	return strings.ToLower(f.Name)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

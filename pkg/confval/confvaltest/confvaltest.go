// Package confvaltest checks, in tests, how a configuration type fills in
// its defaults: what a zero, a negative and a set value of each field
// become, and that a package's DefaultConfig says the same as its filling.
package confvaltest

import (
	"reflect"
	"slices"
	"testing"
)

// Field is what filling does to one field: Set is kept as it is, a zero
// value becomes Zero, and -1 (in Set's type, a number) becomes Neg.
type Field struct {
	Name           string
	Set, Zero, Neg any
}

// F is the Field for name: set is kept, zero and -1 become zero and neg.
func F(name string, set, zero, neg any) Field {
	return Field{Name: name, Set: set, Zero: zero, Neg: neg}
}

// CheckFill runs fill over a configuration holding a zero, a negative and
// a set value of each field in turn, the other fields zero.
func CheckFill[C any](t testing.TB, fill func(C) C, fields []Field) {
	t.Helper()
	for _, f := range fields {
		for _, c := range []struct {
			name    string
			in, out any
		}{{"zero", nil, f.Zero}, {"negative", minusOne(f.Set), f.Neg}, {"set", f.Set, f.Set}} {
			var cfg C
			if c.in != nil {
				reflect.ValueOf(&cfg).Elem().FieldByName(f.Name).Set(reflect.ValueOf(c.in))
			}
			if got := reflect.ValueOf(fill(cfg)).FieldByName(f.Name).Interface(); got != c.out {
				t.Errorf("%s %s: got %v, want %v", f.Name, c.name, got, c.out)
			}
		}
	}
}

// CheckDefaultsAgree checks that every field def sets, but those named in
// skip, holds what fill makes of a zero configuration.
func CheckDefaultsAgree[C any](t testing.TB, fill func(C) C, def C, skip ...string) {
	t.Helper()
	var zero C
	dv, fv := reflect.ValueOf(def), reflect.ValueOf(fill(zero))
	for i := range dv.NumField() {
		name := dv.Type().Field(i).Name
		if slices.Contains(skip, name) || dv.Field(i).IsZero() {
			continue
		}
		if !reflect.DeepEqual(dv.Field(i).Interface(), fv.Field(i).Interface()) {
			t.Errorf("the default of %s is %v, filling gives %v", name, dv.Field(i), fv.Field(i))
		}
	}
}

// minusOne returns -1 in the type of v, a signed number.
func minusOne(v any) any {
	r := reflect.New(reflect.TypeOf(v)).Elem()
	r.SetInt(-1)
	return r.Interface()
}

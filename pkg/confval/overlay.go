package confval

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Overlay sets the fields of the struct cfg points to from environ (a
// list of NAME=value as os.Environ returns): each leaf field's variable is
// prefix followed by the YAML keys of its path, upper-cased and joined by
// "_" (receive.dimse.max_pdu_length is PRINTREG_RECEIVE_DIMSE_MAX_PDU_LENGTH
// for the prefix PRINTREG_). Fields inlined in YAML (",inline") add no key
// of their own; fields YAML skips ("-") are skipped.
//
// Values are read as the YAML file would be: time.ParseDuration for
// durations, ParseByteSize for sizes, strconv for booleans and numbers, and
// lists are comma-separated (blank items dropped). A field of any other
// type cannot be set from the environment: a variable for it is an error.
// Overlay returns the names of the variables applied, in field order, and
// every error at once.
func Overlay(cfg any, prefix string, environ []string) (applied []string, err error) {
	var errs []error
	var walk func(v reflect.Value, path []string)
	walk = func(v reflect.Value, path []string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			fv := v.Field(i)
			if f.Anonymous && name == "" && strings.Contains(opts, "inline") && fv.Kind() == reflect.Struct {
				walk(fv, path)
				continue
			}
			p := append(append([]string(nil), path...), name)
			if fv.Kind() == reflect.Struct {
				walk(fv, p)
				continue
			}
			env := prefix + strings.ToUpper(strings.Join(p, "_"))
			val, ok := "", false
			for _, kv := range environ {
				if k, vv, found := strings.Cut(kv, "="); found && k == env {
					val, ok = vv, true
				}
			}
			if !ok {
				continue
			}
			if err := setFromString(fv, val); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
				continue
			}
			applied = append(applied, env)
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), nil)
	return applied, errors.Join(errs...)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func setFromString(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Type() == byteSizeType:
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(b))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var ss []string
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				ss = append(ss, part)
			}
		}
		v.Set(reflect.ValueOf(ss).Convert(v.Type()))
	case v.Kind() == reflect.Slice && v.Type().Elem() == durationType:
		var ds []time.Duration
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			d, err := time.ParseDuration(part)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		v.Set(reflect.ValueOf(ds))
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}

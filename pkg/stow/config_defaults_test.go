package stow

import (
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default.
func TestWithDefaults(t *testing.T) {
	tests := []struct {
		field string
		// zero and neg are what a zero and a negative value become; set
		// is kept as it is.
		set, zero, neg any
	}{
		{"MaxRequestBytes", confval.ByteSize(1 << 20), confval.ByteSize(DefaultMaxRequestBytes), confval.ByteSize(DefaultMaxRequestBytes)},
		{"MaxInstanceBytes", confval.ByteSize(1 << 20), confval.ByteSize(DefaultMaxInstanceBytes), confval.ByteSize(DefaultMaxInstanceBytes)},
		{"MaxParts", 7, DefaultMaxParts, DefaultMaxParts},
		{"MaxConcurrentRequests", 7, DefaultMaxConcurrentRequests, DefaultMaxConcurrentRequests},
		{"MaxConcurrentRequestsPerAddress", 7, DefaultMaxConcurrentRequestsPerAddress, DefaultMaxConcurrentRequestsPerAddress},
		{"IdleTimeout", time.Second, DefaultIdleTimeout, DefaultIdleTimeout},
		{"ReadHeaderTimeout", time.Second, DefaultReadHeaderTimeout, DefaultReadHeaderTimeout},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			name    string
			in, out any
		}{{"zero", nil, tc.zero}, {"negative", minusOne(tc.set), tc.neg}, {"set", tc.set, tc.set}} {
			var cfg Config
			if c.in != nil {
				reflect.ValueOf(&cfg).Elem().FieldByName(tc.field).Set(reflect.ValueOf(c.in))
			}
			got := reflect.ValueOf(cfg.withDefaults()).FieldByName(tc.field).Interface()
			if got != c.out {
				t.Errorf("%s %s: got %v, want %v", tc.field, c.name, got, c.out)
			}
		}
	}
	for in, want := range map[string]string{"": DefaultBasePath, "/": "", "x/": "/x", "/a/b/": "/a/b", "/dicom-web": "/dicom-web"} {
		if got := (Config{BasePath: in}).withDefaults().BasePath; got != want {
			t.Errorf("BasePath %q: got %q, want %q", in, got, want)
		}
	}
	// Every default of DefaultConfig is the one withDefaults fills in.
	def := DefaultConfig()
	filled := (Config{}).withDefaults()
	dv, fv := reflect.ValueOf(def), reflect.ValueOf(filled)
	for i := range dv.NumField() {
		if !dv.Field(i).IsZero() && !reflect.DeepEqual(dv.Field(i).Interface(), fv.Field(i).Interface()) {
			t.Errorf("DefaultConfig().%s = %v, withDefaults gives %v", dv.Type().Field(i).Name, dv.Field(i), fv.Field(i))
		}
	}
}

// minusOne returns -1 of the type of v, a number.
func minusOne(v any) any {
	r := reflect.New(reflect.TypeOf(v)).Elem()
	r.SetInt(-1)
	return r.Interface()
}

package receive

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/stow"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default. The DIMSE and STOW-RS
// sections are left as they are: their servers fill their own defaults.
func TestWithDefaults(t *testing.T) {
	tests := []struct {
		field string
		// zero and neg are what a zero and a negative value become; set
		// is kept as it is.
		set, zero, neg any
	}{
		{"MinSpoolFreeBytes", confval.ByteSize(1 << 20), confval.ByteSize(DefaultMinFreeBytes), confval.ByteSize(DefaultMinFreeBytes)},
		{"MinStoreFreeBytes", confval.ByteSize(1 << 20), confval.ByteSize(DefaultMinFreeBytes), confval.ByteSize(DefaultMinFreeBytes)},
		{"ReadyCacheTTL", time.Second, DefaultReadyCacheTTL, DefaultReadyCacheTTL},
		{"PutTimeout", time.Second, DefaultPutTimeout, DefaultPutTimeout},
		{"BudgetWait", time.Second, DefaultBudgetWait, DefaultBudgetWait},
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
	for _, c := range []struct{ field, in, want string }{
		{"KeyPrefix", "", DefaultKeyPrefix}, {"KeyPrefix", "lab/", "lab/"},
		{"SpoolDir", "", os.TempDir()}, {"SpoolDir", "/spool", "/spool"},
	} {
		var cfg Config
		reflect.ValueOf(&cfg).Elem().FieldByName(c.field).SetString(c.in)
		if got := reflect.ValueOf(cfg.withDefaults()).FieldByName(c.field).String(); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.field, c.in, got, c.want)
		}
	}
	if got := (Config{}).withDefaults(); !reflect.DeepEqual(got.DIMSE, dimse.Config{}) || !reflect.DeepEqual(got.STOW, stow.Config{}) {
		t.Errorf("withDefaults filled the DIMSE or STOW-RS section: %+v %+v", got.DIMSE, got.STOW)
	}
	// Every default of DefaultConfig is the one withDefaults fills in.
	def := DefaultConfig()
	filled := (Config{}).withDefaults()
	dv, fv := reflect.ValueOf(def), reflect.ValueOf(filled)
	for i := range dv.NumField() {
		if f := dv.Type().Field(i); f.Name != "DIMSE" && f.Name != "STOW" && !dv.Field(i).IsZero() && !reflect.DeepEqual(dv.Field(i).Interface(), fv.Field(i).Interface()) {
			t.Errorf("DefaultConfig().%s = %v, withDefaults gives %v", f.Name, dv.Field(i), fv.Field(i))
		}
	}
}

// minusOne returns -1 of the type of v, a number.
func minusOne(v any) any {
	r := reflect.New(reflect.TypeOf(v)).Elem()
	r.SetInt(-1)
	return r.Interface()
}

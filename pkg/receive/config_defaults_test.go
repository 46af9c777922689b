package receive

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/confval/confvaltest"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/stow"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default. The DIMSE and STOW-RS
// sections are left as they are: their servers fill their own defaults.
func TestWithDefaults(t *testing.T) {
	confvaltest.CheckFill(t, func(c Config) Config { return c.withDefaults() }, []confvaltest.Field{
		confvaltest.F("MinSpoolFreeBytes", confval.ByteSize(1<<20), confval.ByteSize(DefaultMinFreeBytes), confval.ByteSize(DefaultMinFreeBytes)),
		confvaltest.F("MinStoreFreeBytes", confval.ByteSize(1<<20), confval.ByteSize(DefaultMinFreeBytes), confval.ByteSize(DefaultMinFreeBytes)),
		confvaltest.F("ReadyCacheTTL", time.Second, DefaultReadyCacheTTL, DefaultReadyCacheTTL),
		confvaltest.F("PutTimeout", time.Second, DefaultPutTimeout, DefaultPutTimeout),
		confvaltest.F("BudgetWait", time.Second, DefaultBudgetWait, DefaultBudgetWait),
	})
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
	confvaltest.CheckDefaultsAgree(t, Config.withDefaults, DefaultConfig(), "DIMSE", "STOW")
}

package stow

import (
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/confval/confvaltest"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default.
func TestWithDefaults(t *testing.T) {
	confvaltest.CheckFill(t, func(c Config) Config { return c.withDefaults() }, []confvaltest.Field{
		confvaltest.F("MaxRequestBytes", confval.ByteSize(1<<20), confval.ByteSize(DefaultMaxRequestBytes), confval.ByteSize(DefaultMaxRequestBytes)),
		confvaltest.F("MaxInstanceBytes", confval.ByteSize(1<<20), confval.ByteSize(DefaultMaxInstanceBytes), confval.ByteSize(DefaultMaxInstanceBytes)),
		confvaltest.F("MaxParts", 7, DefaultMaxParts, DefaultMaxParts),
		confvaltest.F("MaxConcurrentRequests", 7, DefaultMaxConcurrentRequests, DefaultMaxConcurrentRequests),
		confvaltest.F("MaxConcurrentRequestsPerAddress", 7, DefaultMaxConcurrentRequestsPerAddress, DefaultMaxConcurrentRequestsPerAddress),
		confvaltest.F("IdleTimeout", time.Second, DefaultIdleTimeout, DefaultIdleTimeout),
		confvaltest.F("ReadHeaderTimeout", time.Second, DefaultReadHeaderTimeout, DefaultReadHeaderTimeout),
	})
	for in, want := range map[string]string{"": DefaultBasePath, "/": "", "x/": "/x", "/a/b/": "/a/b", "/dicom-web": "/dicom-web"} {
		if got := (Config{BasePath: in}).withDefaults().BasePath; got != want {
			t.Errorf("BasePath %q: got %q, want %q", in, got, want)
		}
	}
	confvaltest.CheckDefaultsAgree(t, Config.withDefaults, DefaultConfig())
}

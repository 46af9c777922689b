package tlsconf

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRefusesIncompleteOrMissingFiles(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]Config{
		"no key":         {CertFile: "x"},
		"no certificate": {KeyFile: "x"},
		"missing files":  {CertFile: filepath.Join(dir, "a.crt"), KeyFile: filepath.Join(dir, "a.key")},
	} {
		if tc, err := c.Load(); err == nil || tc != nil || !strings.HasPrefix(err.Error(), "tls: ") {
			t.Errorf("%s: Load = %v, %v; want a tls: error", name, tc, err)
		}
	}
}

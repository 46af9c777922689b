package confval

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "1048576": 1 << 20, "512MiB": 512 << 20, "8GiB": 8 << 30, "2 TiB": 2 << 40, "4KiB": 4 << 10,
		"10MB": 10e6, "3KB": 3000, "1GB": 1e9, "1TB": 1e12, "7B": 7, " 16MiB ": 16 << 20, "4194304KiB": 4 << 30,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "12x", "64Kb", "MiB", "5EiB", "4194305TiB", "9223372036854775808"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for b, want := range map[ByteSize]string{
		0: "0", 1: "1", 1 << 10: "1KiB", 256 << 10: "256KiB", 16 << 20: "16MiB", 4 << 30: "4GiB", 3 << 40: "3TiB",
		1 << 50: "1024TiB", 10e6: "10000000", 1536: "1536", 3072: "3KiB", 1025: "1025",
	} {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}

func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A ByteSize `yaml:"a"`
		B ByteSize `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 64KiB\nb: 1000\n"), &v); err != nil || v.A != 64<<10 || v.B != 1000 {
		t.Fatalf("decoded %+v, %v", v, err)
	}
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "a: 64KiB\nb: \"1000\"\n" {
		t.Errorf("encoded %q, %v", out, err)
	}
	if err := yaml.Unmarshal([]byte("a: 1\nb: 2 parsecs\n"), &v); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad size: %v, want an error naming line 2", err)
	}
}

type inner struct {
	Size  ByteSize      `yaml:"size"`
	Wait  time.Duration `yaml:"wait"`
	Names []string      `yaml:"names"`
}

type embedded struct {
	Prefix string `yaml:"prefix"`
	Inner  inner  `yaml:"inner"`
	Hidden string `yaml:"-"`
}

type overlaid struct {
	On       bool `yaml:"on"`
	embedded `yaml:",inline"`
	Ratio    float64         `yaml:"ratio"`
	Count    int             `yaml:"count"`
	Delays   []time.Duration `yaml:"delays"`
	Limits   map[string]int  `yaml:"limits"`
	Narrow   uint32          `yaml:"narrow"`
}

func TestOverlay(t *testing.T) {
	var c overlaid
	applied, err := Overlay(&c, "P_", []string{
		"P_ON=true", "P_PREFIX=pacs/", "P_INNER_SIZE=8MiB", "P_INNER_WAIT=90s", "P_INNER_NAMES=a, b,,c",
		"P_RATIO=1.5", "P_COUNT=1", "P_COUNT=7", "P_DELAYS=1s,2m", "P_HIDDEN=x", "P_EMBEDDED_PREFIX=no", "OTHER=1",
	})
	want := overlaid{On: true, embedded: embedded{Prefix: "pacs/", Inner: inner{Size: 8 << 20, Wait: 90 * time.Second,
		Names: []string{"a", "b", "c"}}}, Ratio: 1.5, Count: 7, Delays: []time.Duration{time.Second, 2 * time.Minute}}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("Overlay: %+v, %v\nwant %+v", c, err, want)
	}
	if got := strings.Join(applied, " "); got != "P_ON P_PREFIX P_INNER_SIZE P_INNER_WAIT P_INNER_NAMES P_RATIO P_COUNT P_DELAYS" {
		t.Errorf("applied %s", got)
	}
	_, err = Overlay(&c, "P_", []string{"P_INNER_SIZE=1.5GiB", "P_INNER_WAIT=5", "P_ON=maybe", "P_COUNT=x",
		"P_LIMITS=a", "P_NARROW=1", "P_DELAYS=1s,x"})
	for _, name := range []string{"P_INNER_SIZE", "P_INNER_WAIT", "P_ON", "P_COUNT", "P_LIMITS: cannot be set", "P_NARROW: cannot be set", "P_DELAYS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("errors %v lack %s", err, name)
		}
	}
}

package casemodel

import (
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/registry"
	"go.yaml.in/yaml/v3"
)

func TestConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.QuietPeriod != 2*time.Minute || c.HardCap != time.Hour || len(c.Required) != 8 ||
		c.Source != DefaultSource || c.DataSchema != registry.EventDataSchemaID || c.CPTUnitLimits["0560T"] != 5 {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// TestConfigYAML: the pipeline embeds Config in its YAML; durations are
// written as Go durations.
func TestConfigYAML(t *testing.T) {
	var wrapper struct {
		Registry Config `yaml:"registry"`
	}
	in := `
registry:
  quiet_period: 90s
  hard_cap: 45m
  required: [imaging, model, lab.object_type, imaging.stable]
  source: urn:printreg:site-a
  cpt_unit_limits: {"0560T": 4}
`
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	if err := dec.Decode(&wrapper); err != nil {
		t.Fatal(err)
	}
	c := wrapper.Registry
	if c.QuietPeriod != 90*time.Second || c.HardCap != 45*time.Minute || len(c.Required) != 4 || c.Source != "urn:printreg:site-a" || c.CPTUnitLimits["0560T"] != 4 {
		t.Errorf("read %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative quiet", Config{QuietPeriod: -time.Second}, "quiet_period"},
		{"cap below quiet", Config{QuietPeriod: time.Hour, HardCap: time.Minute}, "hard_cap"},
		{"unknown requirement", Config{Required: []string{"imaging", "lab.colour"}}, "lab.colour"},
		{"bad source", Config{Source: "::"}, "source"},
		{"relative schema", Config{DataSchema: "schema.json"}, "data_schema"},
		{"bad limit", Config{CPTUnitLimits: map[string]int{"0560T": 0}}, "0560T"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
		if _, err := New(tt.cfg, testKey(t)); err == nil {
			t.Errorf("%s: New accepted it", tt.name)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted no key")
	}
}

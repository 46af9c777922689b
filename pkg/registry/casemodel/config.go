package casemodel

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/printreg/printreg/pkg/registry"
)

// defaultRequired is the readiness set of the registry form: imaging, a model
// or guide, and the lab fields the form cannot be submitted without.
var defaultRequired = []string{
	registry.ReqImaging, registry.ReqModel, registry.ReqObjectType, registry.ReqOrderingService, registry.ReqIndication,
	registry.ReqParts, registry.ReqPrints, registry.ReqEffort,
}

var knownRequired = []string{
	registry.ReqImaging, registry.ReqModel, registry.ReqObjectType, registry.ReqOrderingService, registry.ReqIndication,
	registry.ReqParts, registry.ReqPrints, registry.ReqEffort, registry.ReqIntendedUse, registry.ReqProcedure, registry.ReqAssessment,
	registry.ReqSegmentation, registry.ReqStable, registry.ReqThinSlice,
}

// DefaultSource is the CloudEvents source when none is configured.
const DefaultSource = "urn:printreg:ingest"

// Config is the registry part of the pipeline's YAML configuration. The zero
// value means "all defaults"; call WithDefaults to see the effective values.
type Config struct {
	// QuietPeriod is how long a study must receive no new instance before it
	// is declared stable.
	QuietPeriod time.Duration `yaml:"quiet_period"`
	// HardCap bounds how long a study may stay receiving (or amended) while
	// instances keep trickling in; late ones then amend the stable study.
	HardCap time.Duration `yaml:"hard_cap"`
	// Required lists what registry_ready needs (names: see the Req constants).
	// Empty means the default set.
	Required []string `yaml:"required"`
	// Source is the CloudEvents source attribute (a URI reference naming
	// this site's ingest).
	Source string `yaml:"source"`
	// DataSchema overrides the dataschema URI of events (default: the
	// embedded schema's $id).
	DataSchema string `yaml:"data_schema"`
	// CPTUnitLimits are units-per-day limits (NCCI MUE) above which the CPT
	// suggestion carries a note; empty means the defaults.
	CPTUnitLimits map[string]int `yaml:"cpt_unit_limits"`
}

// DefaultConfig returns the defaults: a 2 minute quiet period, a 1 hour hard
// cap, the registry form's required set.
func DefaultConfig() Config {
	return Config{}.WithDefaults()
}

// WithDefaults fills every unset field with its default.
func (c Config) WithDefaults() Config {
	if c.QuietPeriod == 0 {
		c.QuietPeriod = 2 * time.Minute
	}
	if c.HardCap == 0 {
		c.HardCap = time.Hour
	}
	if len(c.Required) == 0 {
		c.Required = slices.Clone(defaultRequired)
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.DataSchema == "" {
		c.DataSchema = registry.EventDataSchemaID
	}
	if len(c.CPTUnitLimits) == 0 {
		// CMS NCCI medically unlikely edits, effective April 2026.
		c.CPTUnitLimits = map[string]int{"0559T": 1, "0560T": 5, "0561T": 1, "0562T": 2}
	}
	return c
}

// Validate reports every problem of the effective configuration at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.QuietPeriod < 0 {
		errs = append(errs, errors.New("registry.quiet_period must be positive"))
	}
	if c.HardCap < c.QuietPeriod {
		errs = append(errs, fmt.Errorf("registry.hard_cap (%s) must be at least the quiet period (%s)", c.HardCap, c.QuietPeriod))
	}
	for _, r := range c.Required {
		if !slices.Contains(knownRequired, r) {
			errs = append(errs, fmt.Errorf("registry.required: unknown requirement %q (known: %v)", r, knownRequired))
		}
	}
	if u, err := url.Parse(c.Source); err != nil || (u.Scheme == "" && u.Path == "") {
		errs = append(errs, errors.New("registry.source must be a URI reference, e.g. urn:printreg:site-a"))
	}
	if u, err := url.Parse(c.DataSchema); err != nil || !u.IsAbs() {
		errs = append(errs, errors.New("registry.data_schema must be an absolute URI"))
	}
	for code, n := range c.CPTUnitLimits {
		if n < 1 {
			errs = append(errs, fmt.Errorf("registry.cpt_unit_limits[%s] must be at least 1", code))
		}
	}
	return errors.Join(errs...)
}

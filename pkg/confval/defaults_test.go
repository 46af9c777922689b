package confval

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

type limits struct {
	Limit int `yaml:"limit" confval:"positive"`
}

type sample struct {
	Count    int           `yaml:"count" confval:"positive"`
	Interval time.Duration `yaml:"interval"` // negative: disabled
	Size     ByteSize      `yaml:"size" confval:"positive"`
	Ratio    float64       `yaml:"ratio" confval:"positive"`
	Parts    uint64        `yaml:"parts"`
	Name     string        `yaml:"name"`
	List     []string      `yaml:"list"`
	On       bool          `yaml:"on"`
	Inner    limits        `yaml:"inner"`
	Hidden   time.Duration `yaml:"-" confval:"positive"`
	limits   `yaml:",inline"`
	private  int
}

func sampleDefaults() sample {
	return sample{Count: 4, Interval: time.Second, Size: 1 << 20, Ratio: 1.5, Parts: 9, Name: "n", List: []string{"a"},
		On: true, Inner: limits{Limit: 3}, Hidden: time.Minute, limits: limits{Limit: 5}, private: 7}
}

func TestFillDefaults(t *testing.T) {
	var zero sample
	FillDefaults(&zero, sampleDefaults())
	want := sampleDefaults()
	// Booleans, structs and unexported fields are left alone.
	want.On, want.Inner, want.limits, want.private = false, limits{}, limits{}, 0
	if !reflect.DeepEqual(zero, want) {
		t.Errorf("zero: got %+v, want %+v", zero, want)
	}

	neg := sample{Count: -1, Interval: -1, Size: -1, Ratio: -0.5, Hidden: -1, List: []string{}}
	FillDefaults(&neg, sampleDefaults())
	if neg.Count != 4 || neg.Interval != -1 || neg.Size != 1<<20 || neg.Ratio != 1.5 || neg.Hidden != time.Minute || !slices.Equal(neg.List, []string{"a"}) {
		t.Errorf("negative: got %+v", neg)
	}

	set := sample{Count: 2, Interval: 2, Size: 2, Ratio: 2, Parts: 2, Name: "x", List: []string{"y"}, Hidden: 2}
	got := set
	FillDefaults(&got, sampleDefaults())
	if !reflect.DeepEqual(got, set) {
		t.Errorf("set: got %+v, want %+v", got, set)
	}
}

func TestNegatives(t *testing.T) {
	c := sample{Count: -1, Interval: -1, Size: -1, Ratio: -1, Inner: limits{Limit: -1}, Hidden: -1, limits: limits{Limit: -1}}
	want := []string{"s.count", "s.size", "s.ratio", "s.inner.limit", "s.limit"}
	if got := Negatives(c, "s"); !slices.Equal(got, want) {
		t.Errorf("Negatives = %q, want %q", got, want)
	}
	if got := Negatives(&sample{}, ""); len(got) != 0 {
		t.Errorf("Negatives of a zero config = %q", got)
	}
	if got := Negatives(&sample{Count: -1}, ""); !slices.Equal(got, []string{"count"}) {
		t.Errorf("Negatives without a prefix = %q", got)
	}
}

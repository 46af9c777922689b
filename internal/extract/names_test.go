package extract

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// fill sets every settable field of v to a non-zero value, so that no
// omitempty hides a name.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i))
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(1)
	}
}

// keys returns the JSON object keys of v, and those of its object "flags".
func keys(t *testing.T, v any) (top, flags []string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		top = append(top, k)
	}
	if f, ok := m["flags"]; ok {
		var fm map[string]any
		if err := json.Unmarshal(f, &fm); err != nil {
			t.Fatal(err)
		}
		for k := range fm {
			flags = append(flags, k)
		}
	}
	sort.Strings(top)
	sort.Strings(flags)
	return top, flags
}

// TestSeriesNamesAreTheEvents: every fact extract prints for a series that
// the case events carry too is printed under the events' name; the names
// extract alone prints are listed here, each with why.
func TestSeriesNamesAreTheEvents(t *testing.T) {
	var s dicomx.Series
	fill(reflect.ValueOf(&s).Elem())
	got, gotFlags := keys(t, NewSeries(&s))

	var ev casemodel.SeriesFact
	fill(reflect.ValueOf(&ev).Elem())
	evKeys, evFlags := keys(t, ev)

	onlyExtract := map[string]string{
		"study_instance_uid":        "the file's UID (events: study_uid, remapped)",
		"series_instance_uid":       "the file's UID (events: series_uid, remapped)",
		"frame_of_reference_uid":    "the file's UID",
		"spacing_between_slices_mm": "as encoded, never used",
		"slice_spacing_min_mm":      "range of the computed spacing",
		"slice_spacing_max_mm":      "range of the computed spacing",
		"transfer_syntax_uids":      "how the files are encoded",
		"stacks":                    "orientation groups",
		"localizers":                "localizers left out of the geometry",
		"gantry_tilt_deg":           "the tilt angle (events: the gantry_tilt flag)",
		"thin_slice_reason":         "why thin_slice is false",
	}
	for _, k := range got {
		if !slices.Contains(evKeys, k) && onlyExtract[k] == "" {
			t.Errorf("extract prints %q, a name the case events do not use: rename it to the event's name or list it as extract's own", k)
		}
	}
	for k := range onlyExtract {
		if !slices.Contains(got, k) {
			t.Errorf("listed as extract's own, but not printed: %q", k)
		}
	}
	for _, k := range []string{"model_name", "kernel", "contrast_agent", "body_part", "description", "manufacturer", "kvp",
		"modality", "sop_class_uid", "sop_class_name", "instance_count", "slice_count", "slice_thickness_mm", "slice_spacing_mm",
		"pixel_spacing_mm", "rows", "columns", "extent_mm", "thin_slice", "flags"} {
		if !slices.Contains(got, k) || !slices.Contains(evKeys, k) {
			t.Errorf("%q: in extract %v, in events %v", k, slices.Contains(got, k), slices.Contains(evKeys, k))
		}
	}
	for _, k := range evFlags {
		if !slices.Contains(gotFlags, k) {
			t.Errorf("events flag %q is not among extract's flags %v", k, gotFlags)
		}
	}
	for _, k := range gotFlags {
		if !slices.Contains(evFlags, k) && k != "missing_geometry" {
			t.Errorf("extract flag %q is not an event flag %v", k, evFlags)
		}
	}
}

// TestInstanceNames: per-instance records use the same names as series.
func TestInstanceNames(t *testing.T) {
	var in dicomx.Instance
	fill(reflect.ValueOf(&in).Elem())
	got, _ := keys(t, Instance{Path: "a/b.dcm", Instance: &in})
	for _, k := range []string{"path", "model_name", "kernel", "contrast_agent", "body_part", "description"} {
		if !slices.Contains(got, k) {
			t.Errorf("instance record lacks %q: %v", k, got)
		}
	}
	for _, k := range []string{"manufacturer_model_name", "convolution_kernel", "contrast_bolus_agent", "body_part_examined", "series_description", "accession_number"} {
		if slices.Contains(got, k) {
			t.Errorf("instance record prints %q", k)
		}
	}
	in.AccessionNumber = "ACC-CANARY-31"
	if b, _ := json.Marshal(Instance{Path: "p", Instance: &in}); strings.Contains(string(b), "CANARY") {
		t.Errorf("the accession number is printed: %s", b)
	}
}

package dicomx

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// expectedFacts is testdata/dicom/expected_facts.json, computed with pydicom
// and numpy by testdata/dicom/tools/independent_facts.py.
type expectedFacts struct {
	Series map[string]struct {
		Slices         int      `json:"slices"`
		SpacingMin     float64  `json:"spacing_min"`
		SpacingMax     float64  `json:"spacing_max"`
		SpacingMedian  float64  `json:"spacing_median"`
		SliceThickness *float64 `json:"slice_thickness"`
	} `json:"series"`
	Files map[string]struct {
		SegmentationType string `json:"segmentation_type"`
		Segments         []struct {
			Number        int    `json:"number"`
			Label         string `json:"label"`
			AlgorithmType string `json:"algorithm_type"`
			AlgorithmName string `json:"algorithm_name"`
			Category      *Code  `json:"category"`
			Type          *Code  `json:"type"`
		} `json:"segments"`
		ROIs []struct {
			Number    int    `json:"number"`
			Name      string `json:"name"`
			Algorithm string `json:"algorithm"`
		} `json:"rois"`
	} `json:"files"`
}

func loadExpected(t *testing.T) expectedFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "expected_facts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFacts
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func extractFile(t *testing.T, rel string) (*Object, *Facts) {
	t.Helper()
	b := readCorpus(t, rel)
	obj, err := ReadMeta(bytes.NewReader(b), int64(len(b)), MetaOptions(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	return obj, Extract(obj)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestSeriesMatchesIndependentFacts(t *testing.T) {
	exp := loadExpected(t)
	if len(exp.Series) == 0 {
		t.Fatal("no series in expected facts")
	}
	for folder, want := range exp.Series {
		t.Run(folder, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(corpusDir, folder, "*.dcm"))
			var ins []*Instance
			for _, f := range files {
				rel, _ := filepath.Rel(corpusDir, f)
				_, facts := extractFile(t, rel)
				ins = append(ins, facts.Instance)
			}
			ss := BuildSeries(ins, SeriesOptions{})
			if len(ss) != 1 {
				t.Fatalf("%d series, want 1", len(ss))
			}
			s := ss[0]
			if s.SliceCount != want.Slices || s.InstanceCount != want.Slices {
				t.Errorf("slices %d/%d, want %d", s.SliceCount, s.InstanceCount, want.Slices)
			}
			if s.SliceSpacingMM == nil || !near(*s.SliceSpacingMM, want.SpacingMedian) ||
				!near(*s.SpacingMinMM, want.SpacingMin) || !near(*s.SpacingMaxMM, want.SpacingMax) {
				t.Errorf("spacing %v [%v, %v], want %v [%v, %v]", ptr(s.SliceSpacingMM), ptr(s.SpacingMinMM), ptr(s.SpacingMaxMM), want.SpacingMedian, want.SpacingMin, want.SpacingMax)
			}
			if (want.SliceThickness == nil) != (s.SliceThicknessMM == nil) || (want.SliceThickness != nil && !near(*s.SliceThicknessMM, *want.SliceThickness)) {
				t.Errorf("thickness %v, want %v", ptr(s.SliceThicknessMM), want.SliceThickness)
			}
			uneven := !near(want.SpacingMin, want.SpacingMax)
			if s.Flags.UnevenSpacing != uneven {
				t.Errorf("uneven = %v, want %v", s.Flags.UnevenSpacing, uneven)
			}
			overlap := want.SliceThickness != nil && *want.SliceThickness > want.SpacingMedian*1.01
			if s.Flags.Overlap != overlap {
				t.Errorf("overlap = %v, want %v", s.Flags.Overlap, overlap)
			}
		})
	}
}

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSegmentationMatchesIndependentFacts(t *testing.T) {
	exp := loadExpected(t)
	for rel, want := range exp.Files {
		t.Run(rel, func(t *testing.T) {
			_, facts := extractFile(t, rel)
			sg := facts.Segmentation
			if sg == nil {
				t.Fatal("no segmentation facts")
			}
			if len(want.ROIs) > 0 {
				if sg.Kind != KindRTStruct || len(sg.Segments) != len(want.ROIs) {
					t.Fatalf("kind %s with %d segments, want RTSTRUCT with %d", sg.Kind, len(sg.Segments), len(want.ROIs))
				}
				rois := append(want.ROIs[:0:0], want.ROIs...)
				sort.Slice(rois, func(i, j int) bool { return rois[i].Number < rois[j].Number })
				for i, r := range rois {
					got := sg.Segments[i]
					if got.Number != r.Number || got.Label != r.Name || got.AlgorithmType != r.Algorithm {
						t.Errorf("ROI %d = {%d %q %q}, want %+v", i, got.Number, got.Label, got.AlgorithmType, r)
					}
				}
				return
			}
			if sg.SegmentationType != want.SegmentationType {
				t.Errorf("segmentation type %q, want %q", sg.SegmentationType, want.SegmentationType)
			}
			if len(sg.Segments) != len(want.Segments) {
				t.Fatalf("%d segments, want %d", len(sg.Segments), len(want.Segments))
			}
			for i, w := range want.Segments {
				g := sg.Segments[i]
				if g.Number != w.Number || g.Label != w.Label || g.AlgorithmType != w.AlgorithmType || g.AlgorithmName != w.AlgorithmName {
					t.Errorf("segment %d = {%d %q %q %q}, want %+v", i, g.Number, g.Label, g.AlgorithmType, g.AlgorithmName, w)
				}
				if !sameCode(g.Category, w.Category) || !sameCode(g.Type, w.Type) {
					t.Errorf("segment %d codes = %+v / %+v, want %+v / %+v", i, g.Category, g.Type, w.Category, w.Type)
				}
			}
		})
	}
}

func sameCode(a, b *Code) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Code == b.Code && a.Scheme == b.Scheme && a.Meaning == b.Meaning
}

func TestSegmentationReferences(t *testing.T) {
	// highdicom's CT segmentations reference series_pydicom_CT2_4slices.
	_, ct := extractFile(t, "series_pydicom_CT2_4slices/17106.dcm")
	_, seg := extractFile(t, "seg/highdicom/seg_image_ct_binary.dcm")
	if got := seg.Segmentation.ReferencedSeriesUIDs; len(got) != 1 || got[0] != ct.Instance.SeriesInstanceUID {
		t.Errorf("SEG references %v, want [%s]", got, ct.Instance.SeriesInstanceUID)
	}
	_, rt := extractFile(t, "rtstruct/dicompyler_rtss.dcm")
	_, ctd := extractFile(t, "dicompyler/ct.0.dcm")
	if got := rt.Segmentation.ReferencedSeriesUIDs; len(got) != 1 || got[0] != ctd.Instance.SeriesInstanceUID {
		t.Errorf("RTSTRUCT references %v, want [%s]", got, ctd.Instance.SeriesInstanceUID)
	}
	if rt.Segmentation.FrameOfReferenceUID != ctd.Instance.FrameOfReferenceUID {
		t.Errorf("RTSTRUCT frame of reference %s, want %s", rt.Segmentation.FrameOfReferenceUID, ctd.Instance.FrameOfReferenceUID)
	}
	for _, s := range rt.Segmentation.Segments {
		if s.Contours == 0 && !strings.Contains(strings.ToLower(s.Label), "iso") {
			t.Logf("ROI %d (%s) has no contours", s.Number, s.Label)
		}
	}
}

func TestEncapsulatedModels(t *testing.T) {
	tests := []struct {
		rel    string
		units  string
		length int64
		prefix string
	}{
		{"encapsulated/stl2dcm_sphere_binary.dcm", "mm", 144084, "STL F"},
		{"encapsulated/stl2dcm_pyramid_bigendian.dcm", "um", 584, "STL F"},
		{"encapsulated/pydicom_origin_inside_solidheader.dcm", "mm", 1484, "solid"},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			_, f := extractFile(t, tc.rel)
			m := f.Model
			if m == nil {
				t.Fatal("no model facts")
			}
			if m.Format != "stl" || m.MIMEType != "model/stl" || m.Units != tc.units || m.Length != tc.length {
				t.Errorf("got format %s mime %s units %s length %d", m.Format, m.MIMEType, m.Units, m.Length)
			}
			if int64(len(m.Document)) != tc.length || !bytes.HasPrefix(m.Document, []byte(tc.prefix)) {
				t.Errorf("document %d bytes, prefix %q", len(m.Document), m.Document[:min(5, len(m.Document))])
			}
		})
	}
}

func TestEnhancedMultiFrame(t *testing.T) {
	_, ct := extractFile(t, "pydicom-data/eCT_Supplemental.dcm")
	in := ct.Instance
	if in.NumberOfFrames != 2 || len(in.Frames) != 2 || len(in.PixelSpacing) != 2 || len(in.ImageOrientation) != 6 {
		t.Fatalf("frames %d/%d, pixel spacing %v, orientation %v", in.NumberOfFrames, len(in.Frames), in.PixelSpacing, in.ImageOrientation)
	}
	if in.SliceThickness == nil || *in.SliceThickness != 10 {
		t.Errorf("enhanced CT thickness %v from the shared pixel measures", ptr(in.SliceThickness))
	}
	// A SEG's frames carry the geometry of the series it segments.
	_, seg := extractFile(t, "seg/dcmqi/23x38x3_label.seg.dcm")
	ss := BuildSeries([]*Instance{seg.Instance}, SeriesOptions{})
	if len(ss) != 1 || ss[0].SliceCount != 3 || ss[0].SliceSpacingMM == nil || !near(*ss[0].SliceSpacingMM, 2.5) {
		t.Errorf("SEG geometry: %+v", ss[0])
	}
	// Same object in two byte orders: identical facts but for the syntax.
	_, le := extractFile(t, "pydicom-data/emri_small.dcm")
	_, be := extractFile(t, "pydicom-data/emri_small_big_endian.dcm")
	a, _ := json.Marshal(le.Instance)
	b, _ := json.Marshal(be.Instance)
	if strings.Replace(string(b), ExplicitVRBigEndian, ExplicitVRLittleEndian, 1) != string(a) {
		t.Errorf("big endian facts differ:\n%s\n%s", a, b)
	}
}

func TestSniff(t *testing.T) {
	for _, rel := range corpusFiles(t) {
		if !Sniff(readCorpus(t, rel)[:min(512, len(readCorpus(t, rel)))]) && rel != "pydicom/no_meta.dcm" {
			t.Errorf("%s not recognised as DICOM", rel)
		}
	}
	for _, s := range []string{"solid cube\nfacet normal 0 0 1\n", "PK\x03\x04 zip", "{\"object_type\":\"model\"}", "", "v 1 2 3\nf 1 2 3\n"} {
		if Sniff([]byte(s)) {
			t.Errorf("%q recognised as DICOM", s)
		}
	}
}

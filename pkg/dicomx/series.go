package dicomx

import (
	"math"
	"sort"
	"strings"
)

// DefaultThinSliceMaxMM is SeriesOptions.ThinSliceMaxMM's default.
const DefaultThinSliceMaxMM = 1.25

// SeriesOptions tune series geometry.
type SeriesOptions struct {
	// ThinSliceMaxMM is the thin-slice guidance for 3D printing: slice
	// thickness and spacing at most this (default DefaultThinSliceMaxMM).
	ThinSliceMaxMM float64 `yaml:"thin_slice_max_mm" json:"thin_slice_max_mm"`
}

func (o SeriesOptions) withDefaults() SeriesOptions {
	if o.ThinSliceMaxMM <= 0 {
		o.ThinSliceMaxMM = DefaultThinSliceMaxMM
	}
	return o
}

// Series summarises one series. SliceSpacingMM is computed from
// ImagePositionPatient projected on the slice normal; SliceThickness and
// SpacingBetweenSlices are reported as encoded but never used for spacing.
type Series struct {
	StudyInstanceUID    string    `json:"study_instance_uid"`
	SeriesInstanceUID   string    `json:"series_instance_uid"`
	FrameOfReferenceUID string    `json:"frame_of_reference_uid,omitempty"`
	Modality            string    `json:"modality"`
	SOPClassUID         string    `json:"sop_class_uid"`
	SOPClassName        string    `json:"sop_class_name,omitempty"`
	InstanceCount       int       `json:"instance_count"`
	SliceCount          int       `json:"slice_count"`
	SliceThicknessMM    *float64  `json:"slice_thickness_mm"`
	SpacingBetweenMM    *float64  `json:"spacing_between_slices_mm,omitempty"`
	SliceSpacingMM      *float64  `json:"slice_spacing_mm"`
	SpacingMinMM        *float64  `json:"slice_spacing_min_mm,omitempty"`
	SpacingMaxMM        *float64  `json:"slice_spacing_max_mm,omitempty"`
	ExtentMM            *float64  `json:"extent_mm,omitempty"`
	PixelSpacingMM      []float64 `json:"pixel_spacing_mm"`
	Rows                int       `json:"rows"`
	Columns             int       `json:"columns"`
	Manufacturer        string    `json:"manufacturer"`
	ManufacturerModel   string    `json:"manufacturer_model_name,omitempty"`
	ConvolutionKernel   string    `json:"convolution_kernel,omitempty"`
	KVP                 *float64  `json:"kvp,omitempty"`
	ContrastBolusAgent  string    `json:"contrast_bolus_agent,omitempty"`
	BodyPartExamined    string    `json:"body_part_examined,omitempty"`
	SeriesDescription   string    `json:"series_description,omitempty"`
	TransferSyntaxUIDs  []string  `json:"transfer_syntax_uids,omitempty"`
	Stacks              int       `json:"stacks,omitempty"`
	Localizers          int       `json:"localizers,omitempty"`
	GantryTiltDeg       *float64  `json:"gantry_tilt_deg,omitempty"`
	Flags               Flags     `json:"flags"`
	ThinSlice           bool      `json:"thin_slice"`
	ThinSliceReason     string    `json:"thin_slice_reason,omitempty"`
}

// Flags are the geometry findings a 3D-printing lab cares about.
type Flags struct {
	UnevenSpacing      bool `json:"uneven_spacing"`
	Gaps               bool `json:"gaps"`
	DuplicatePositions bool `json:"duplicate_positions"`
	Overlap            bool `json:"overlap"`
	Oblique            bool `json:"oblique"`
	Tilted             bool `json:"tilted"`
	MixedOrientations  bool `json:"mixed_orientations"`
	MissingGeometry    bool `json:"missing_geometry,omitempty"`
}

// Tolerances: orientation equality as in highdicom (1e-4 on direction
// cosines), spacing uniformity 1 % relative, positions closer than 0.01 mm
// are duplicates, tilt and obliquity above 0.5°.
const (
	orientTol    = 1e-4
	spacingRel   = 0.01
	duplicateMM  = 0.01
	angleTolDeg  = 0.5
	gapFactor    = 1.5
	maxSliceList = 1 << 20
)

// BuildSeries groups instances by series and computes each series' geometry.
// The result is sorted by study and series UID.
func BuildSeries(instances []*Instance, opt SeriesOptions) []*Series {
	opt = opt.withDefaults()
	groups := map[string][]*Instance{}
	var keys []string
	for _, in := range instances {
		k := in.StudyInstanceUID + "\x00" + in.SeriesInstanceUID
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], in)
	}
	sort.Strings(keys)
	out := make([]*Series, 0, len(keys))
	for _, k := range keys {
		out = append(out, buildOne(groups[k], opt))
	}
	return out
}

type slice struct {
	pos    [3]float64
	orient [6]float64
	thick  *float64
}

func buildOne(ins []*Instance, opt SeriesOptions) *Series {
	// Stable order so that "first" values do not depend on arrival order;
	// callers give instances in a stable order for ties (same SOP instance
	// in two encodings).
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].SOPInstanceUID < ins[j].SOPInstanceUID })
	f := ins[0]
	s := &Series{
		StudyInstanceUID: f.StudyInstanceUID, SeriesInstanceUID: f.SeriesInstanceUID,
		FrameOfReferenceUID: f.FrameOfReferenceUID, Modality: f.Modality,
		SOPClassUID: f.SOPClassUID, SOPClassName: f.SOPClassName,
		InstanceCount: len(ins),
	}
	tsSeen := map[string]bool{}
	var slices []slice
	for _, in := range ins {
		if in.TransferSyntaxUID != "" && !tsSeen[in.TransferSyntaxUID] {
			tsSeen[in.TransferSyntaxUID] = true
			s.TransferSyntaxUIDs = append(s.TransferSyntaxUIDs, in.TransferSyntaxUID)
		}
		firstStr(&s.Manufacturer, in.Manufacturer)
		firstStr(&s.ManufacturerModel, in.ManufacturerModel)
		firstStr(&s.ConvolutionKernel, in.ConvolutionKernel)
		firstStr(&s.ContrastBolusAgent, in.ContrastBolusAgent)
		firstStr(&s.BodyPartExamined, in.BodyPartExamined)
		firstStr(&s.SeriesDescription, in.SeriesDescription)
		firstStr(&s.FrameOfReferenceUID, in.FrameOfReferenceUID)
		if s.KVP == nil {
			s.KVP = in.KVP
		}
		if in.IsLocalizer() {
			s.Localizers++
			continue
		}
		if s.Rows == 0 {
			s.Rows, s.Columns = in.Rows, in.Columns
		}
		if s.PixelSpacingMM == nil {
			s.PixelSpacingMM = in.PixelSpacing
		}
		if s.SliceThicknessMM == nil {
			s.SliceThicknessMM = in.SliceThickness
		}
		if s.SpacingBetweenMM == nil {
			s.SpacingBetweenMM = in.SpacingBetween
		}
		frames := in.Frames
		if len(frames) == 0 && in.NumberOfFrames <= 1 {
			s.SliceCount++
			s.Flags.MissingGeometry = true
			continue
		}
		if len(frames) == 0 {
			s.SliceCount += in.NumberOfFrames
			s.Flags.MissingGeometry = true
			continue
		}
		for _, fr := range frames {
			s.SliceCount++
			if len(slices) >= maxSliceList {
				continue
			}
			o := fr.Orientation
			if o == nil {
				o = in.ImageOrientation
			}
			if fr.Position == nil || o == nil {
				s.Flags.MissingGeometry = true
				continue
			}
			var sl slice
			copy(sl.pos[:], fr.Position)
			copy(sl.orient[:], o)
			sl.thick = in.SliceThickness
			slices = append(slices, sl)
		}
	}
	s.geometry(slices)
	s.thinSlice(opt)
	return s
}

func firstStr(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// geometry computes spacing and flags from the slices (PS3.3 C.7.6.2.1.1:
// positions projected on the normal of the row and column directions).
func (s *Series) geometry(slices []slice) {
	if len(slices) == 0 {
		return
	}
	// Stacks: groups of parallel orientation. The largest one is measured.
	type stack struct {
		orient [6]float64
		sl     []slice
	}
	var stacks []*stack
	for _, sl := range slices {
		var found *stack
		for _, st := range stacks {
			if sameOrientation(st.orient, sl.orient) {
				found = st
				break
			}
		}
		if found == nil {
			found = &stack{orient: sl.orient}
			stacks = append(stacks, found)
		}
		found.sl = append(found.sl, sl)
	}
	if len(stacks) > 1 {
		s.Flags.MixedOrientations = true
		s.Stacks = len(stacks)
	}
	best := stacks[0]
	for _, st := range stacks[1:] {
		if len(st.sl) > len(best.sl) {
			best = st
		}
	}
	r := [3]float64{best.orient[0], best.orient[1], best.orient[2]}
	c := [3]float64{best.orient[3], best.orient[4], best.orient[5]}
	n := cross(r, c)
	if nn := norm(n); nn < 0.5 {
		s.Flags.MissingGeometry = true // degenerate orientation
		return
	} else {
		n = scale(n, 1/nn)
	}
	// Oblique: the normal is not along a patient axis.
	maxc := math.Max(math.Abs(n[0]), math.Max(math.Abs(n[1]), math.Abs(n[2])))
	if maxc < math.Cos(angleTolDeg*math.Pi/180) {
		s.Flags.Oblique = true
	}
	d := make([]float64, len(best.sl))
	for i, sl := range best.sl {
		d[i] = dot(n, sl.pos)
	}
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return d[idx[a]] < d[idx[b]] })
	if len(d) < 2 {
		return
	}
	lo, hi := d[idx[0]], d[idx[len(idx)-1]]
	ext := hi - lo
	s.ExtentMM = &ext
	// Gantry tilt: slices stacked along a direction other than the normal.
	span := sub(best.sl[idx[len(idx)-1]].pos, best.sl[idx[0]].pos)
	if l := norm(span); l > duplicateMM {
		cosA := math.Abs(dot(span, n)) / l
		ang := math.Acos(math.Min(1, cosA)) * 180 / math.Pi
		if ang > angleTolDeg {
			s.Flags.Tilted = true
			a := round(ang, 3)
			s.GantryTiltDeg = &a
		}
	}
	var deltas []float64
	for i := 1; i < len(idx); i++ {
		delta := d[idx[i]] - d[idx[i-1]]
		if delta < duplicateMM {
			s.Flags.DuplicatePositions = true
			continue
		}
		deltas = append(deltas, delta)
	}
	if len(deltas) == 0 {
		return
	}
	sorted := append([]float64(nil), deltas...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	mn, mx := round(sorted[0], 6), round(sorted[len(sorted)-1], 6)
	med = round(med, 6)
	s.SliceSpacingMM, s.SpacingMinMM, s.SpacingMaxMM = &med, &mn, &mx
	for _, dl := range deltas {
		if math.Abs(dl-med)/med > spacingRel {
			s.Flags.UnevenSpacing = true
		}
		if dl > gapFactor*med {
			s.Flags.Gaps = true
		}
	}
	if s.SliceThicknessMM != nil && *s.SliceThicknessMM > med*(1+spacingRel) {
		s.Flags.Overlap = true
	}
}

// thinSlice applies the 3D-printing guidance: thickness and spacing both at
// most the threshold.
func (s *Series) thinSlice(opt SeriesOptions) {
	lim := opt.ThinSliceMaxMM
	var why []string
	switch {
	case s.SliceSpacingMM == nil:
		why = append(why, "slice spacing unknown")
	case *s.SliceSpacingMM > lim+1e-9:
		why = append(why, "slice spacing above threshold")
	}
	switch {
	case s.SliceThicknessMM == nil:
		why = append(why, "slice thickness unknown")
	case *s.SliceThicknessMM > lim+1e-9:
		why = append(why, "slice thickness above threshold")
	}
	if s.Flags.Gaps {
		why = append(why, "gaps between slices")
	}
	s.ThinSlice = len(why) == 0
	s.ThinSliceReason = strings.Join(why, "; ")
}

func sameOrientation(a, b [6]float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > orientTol {
			return false
		}
	}
	return true
}

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func dot(a, b [3]float64) float64              { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64                { return math.Sqrt(dot(a, a)) }
func sub(a, b [3]float64) [3]float64           { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a [3]float64, k float64) [3]float64 { return [3]float64{a[0] * k, a[1] * k, a[2] * k} }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

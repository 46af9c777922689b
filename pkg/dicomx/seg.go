package dicomx

import "sort"

// Code is a coded concept. Consumers should key on (Scheme, Code), never on
// Meaning.
type Code struct {
	Code      string `json:"code"`
	Scheme    string `json:"scheme"`
	Meaning   string `json:"meaning,omitempty"`
	Modifiers []Code `json:"modifiers,omitempty"`
}

// Segment is one segment of a SEG or one ROI of an RT Structure Set.
type Segment struct {
	Number         int    `json:"number"`
	Label          string `json:"label"`
	Description    string `json:"description,omitempty"`
	AlgorithmType  string `json:"algorithm_type,omitempty"`
	AlgorithmName  string `json:"algorithm_name,omitempty"`
	Category       *Code  `json:"category,omitempty"`
	Type           *Code  `json:"type,omitempty"`
	AnatomicRegion []Code `json:"anatomic_regions,omitempty"`
	// RT Structure Set only.
	InterpretedType     string `json:"interpreted_type,omitempty"`
	FrameOfReferenceUID string `json:"referenced_frame_of_reference_uid,omitempty"`
	Contours            int    `json:"contours,omitempty"`
}

// Segmentation kinds.
const (
	KindSEG      = "SEG"
	KindSurface  = "SURFACE"
	KindRTStruct = "RTSTRUCT"
)

// Segmentation is the metadata of a DICOM SEG, Surface Segmentation or RT
// Structure Set.
type Segmentation struct {
	Kind                 string    `json:"kind"`
	SOPClassUID          string    `json:"sop_class_uid"`
	SOPInstanceUID       string    `json:"sop_instance_uid"`
	SeriesInstanceUID    string    `json:"series_instance_uid"`
	StudyInstanceUID     string    `json:"study_instance_uid"`
	FrameOfReferenceUID  string    `json:"frame_of_reference_uid,omitempty"`
	SegmentationType     string    `json:"segmentation_type,omitempty"`
	FractionalType       string    `json:"fractional_type,omitempty"`
	Frames               int       `json:"frames,omitempty"`
	Surfaces             int       `json:"surfaces,omitempty"`
	ReferencedSeriesUIDs []string  `json:"referenced_series_instance_uids"`
	ReferencedInstances  int       `json:"referenced_instances,omitempty"`
	Manufacturer         string    `json:"manufacturer,omitempty"`
	SoftwareVersions     string    `json:"software_versions,omitempty"`
	ContentLabel         string    `json:"content_label,omitempty"`
	Segments             []Segment `json:"segments"`
}

// SegmentationKind returns the segmentation kind of a SOP class, or "".
func SegmentationKind(sopClass string) string {
	switch sopClass {
	case SegmentationStorage, LabelMapSegmentationStorage:
		return KindSEG
	case SurfaceSegmentationStorage:
		return KindSurface
	case RTStructureSetStorage:
		return KindRTStruct
	}
	return ""
}

// NewSegmentation reads segmentation metadata, or returns nil when the object
// is not a segmentation. Text is decoded through the object's Specific
// Character Set, or an item's own.
func NewSegmentation(obj *Object, in *Instance) *Segmentation {
	kind := SegmentationKind(in.SOPClassUID)
	if kind == "" {
		return nil
	}
	ds := obj.Dataset
	cs := CharsetOf(ds, nil)
	sg := &Segmentation{
		Kind: kind, SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID,
		SeriesInstanceUID: in.SeriesInstanceUID, StudyInstanceUID: in.StudyInstanceUID,
		FrameOfReferenceUID:  in.FrameOfReferenceUID,
		Manufacturer:         ds.Text(TagManufacturer, cs),
		SoftwareVersions:     ds.Text(TagSoftwareVersions, cs),
		ContentLabel:         ds.Text(TagContentLabel, cs),
		Frames:               in.NumberOfFrames,
		ReferencedSeriesUIDs: []string{},
	}
	refs := newUIDSet()
	switch kind {
	case KindSEG, KindSurface:
		sg.SegmentationType = ds.Text(TagSegmentationType, cs)
		sg.FractionalType = ds.Text(TagSegmentationFractionalType, cs)
		for _, item := range ds.Seq(TagSegmentSequence) {
			sg.Segments = append(sg.Segments, readSegment(item, cs))
		}
		for _, rs := range ds.Seq(TagReferencedSeriesSequence) {
			refs.add(rs.Str(TagSeriesInstanceUID))
			sg.ReferencedInstances += len(rs.Seq(TagReferencedInstanceSequence))
		}
		for _, st := range ds.Seq(TagStudiesContainingOtherReferencedInstancesSequence) {
			for _, rs := range st.Seq(TagReferencedSeriesSequence) {
				refs.add(rs.Str(TagSeriesInstanceUID))
			}
		}
		if kind == KindSurface {
			sg.Surfaces = len(ds.Seq(TagSurfaceSequence))
		}
	case KindRTStruct:
		sg.readROIs(ds, refs, cs)
	}
	sg.ReferencedSeriesUIDs = refs.sorted()
	sort.SliceStable(sg.Segments, func(i, j int) bool { return sg.Segments[i].Number < sg.Segments[j].Number })
	if sg.Segments == nil {
		sg.Segments = []Segment{}
	}
	return sg
}

// readSegment reads an item of the Segment Sequence; cs is the charset of
// the dataset that holds the sequence.
func readSegment(item *Dataset, cs *Charset) Segment {
	cs = CharsetOf(item, cs)
	s := Segment{
		Label:         item.Text(TagSegmentLabel, cs),
		Description:   item.Text(TagSegmentDescription, cs),
		AlgorithmType: item.Text(TagSegmentAlgorithmType, cs),
		AlgorithmName: item.Text(TagSegmentAlgorithmName, cs),
		Category:      readCode(item.Item(TagSegmentedPropertyCategoryCodeSequence), 0, cs),
		Type:          readCode(item.Item(TagSegmentedPropertyTypeCodeSequence), TagSegmentedPropertyTypeModifierCodeSequence, cs),
	}
	if n, ok := item.Int(TagSegmentNumber); ok && n >= 0 && n < 1<<16 {
		s.Number = int(n)
	}
	if s.AlgorithmName == "" {
		if alg := item.Item(TagSegmentationAlgorithmIdentificationSequence); alg != nil {
			s.AlgorithmName = alg.Text(TagAlgorithmName, CharsetOf(alg, cs))
		}
	}
	for _, r := range item.Seq(TagAnatomicRegionSequence) {
		if c := readCode(r, TagAnatomicRegionModifierSequence, cs); c != nil {
			s.AnatomicRegion = append(s.AnatomicRegion, *c)
		}
	}
	// The type's modifiers (laterality) sometimes sit beside the type code
	// sequence rather than inside its item.
	if s.Type != nil && len(s.Type.Modifiers) == 0 {
		for _, m := range item.Seq(TagSegmentedPropertyTypeModifierCodeSequence) {
			if c := readCode(m, 0, cs); c != nil {
				s.Type.Modifiers = append(s.Type.Modifiers, *c)
			}
		}
	}
	return s
}

// readCode reads a Code Sequence item (long and URN code values included),
// with its modifiers from modSeq when non-zero; cs is the charset of the
// dataset that holds the sequence.
func readCode(item *Dataset, modSeq Tag, cs *Charset) *Code {
	if item == nil {
		return nil
	}
	cs = CharsetOf(item, cs)
	c := &Code{
		Code:    item.Text(TagCodeValue, cs),
		Scheme:  item.Text(TagCodingSchemeDesignator, cs),
		Meaning: item.Text(TagCodeMeaning, cs),
	}
	if c.Code == "" {
		c.Code = item.Text(TagLongCodeValue, cs)
	}
	if c.Code == "" {
		c.Code = item.Text(TagURNCodeValue, cs)
	}
	if c.Code == "" && c.Meaning == "" {
		return nil
	}
	if modSeq != 0 {
		for _, m := range item.Seq(modSeq) {
			if mc := readCode(m, 0, cs); mc != nil {
				c.Modifiers = append(c.Modifiers, *mc)
			}
		}
	}
	return c
}

// readROIs reads an RT Structure Set: ROIs as segments, with their generation
// algorithm, interpreted type and contour count; referenced series from the
// referenced frame of reference sequence. cs is the object's charset.
func (sg *Segmentation) readROIs(ds *Dataset, refs *uidSet, cs *Charset) {
	for _, f := range ds.Seq(TagReferencedFrameOfReferenceSequence) {
		if sg.FrameOfReferenceUID == "" {
			sg.FrameOfReferenceUID = f.Str(TagFrameOfReferenceUID)
		}
		for _, st := range f.Seq(TagRTReferencedStudySequence) {
			for _, se := range st.Seq(TagRTReferencedSeriesSequence) {
				refs.add(se.Str(TagSeriesInstanceUID))
				sg.ReferencedInstances += len(se.Seq(TagContourImageSequence))
			}
		}
	}
	byNumber := map[int]int{}
	for _, item := range ds.Seq(TagStructureSetROISequence) {
		ics := CharsetOf(item, cs)
		s := Segment{
			Label:               item.Text(TagROIName, ics),
			Description:         item.Text(TagROIDescription, ics),
			AlgorithmType:       item.Text(TagROIGenerationAlgorithm, ics),
			AlgorithmName:       item.Text(TagROIGenerationDescription, ics),
			FrameOfReferenceUID: item.Str(TagReferencedFrameOfReferenceUID),
		}
		if n, ok := item.Int(TagROINumber); ok && n >= 0 && n < 1<<31 {
			s.Number = int(n)
		}
		if alg := item.Item(TagROIDerivationAlgorithmIdentificationSequence); alg != nil && s.AlgorithmName == "" {
			s.AlgorithmName = alg.Text(TagAlgorithmName, CharsetOf(alg, ics))
		}
		byNumber[s.Number] = len(sg.Segments)
		sg.Segments = append(sg.Segments, s)
	}
	for _, obs := range ds.Seq(TagRTROIObservationsSequence) {
		n, ok := obs.Int(TagReferencedROINumber)
		if !ok {
			continue
		}
		if i, ok := byNumber[int(n)]; ok {
			sg.Segments[i].InterpretedType = obs.Text(TagRTROIInterpretedType, CharsetOf(obs, cs))
		}
	}
	for _, rc := range ds.Seq(TagROIContourSequence) {
		n, ok := rc.Int(TagReferencedROINumber)
		if !ok {
			continue
		}
		if i, ok := byNumber[int(n)]; ok {
			sg.Segments[i].Contours += len(rc.Seq(TagContourSequence))
		}
	}
}

type uidSet struct{ m map[string]bool }

func newUIDSet() *uidSet { return &uidSet{m: map[string]bool{}} }

func (u *uidSet) add(s string) {
	if s = trimUID(s); s != "" {
		u.m[s] = true
	}
}

func (u *uidSet) sorted() []string {
	out := make([]string, 0, len(u.m))
	for k := range u.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EncapsulatedModel is an Encapsulated STL, OBJ or MTL object: the facts
// needed to measure the model it carries.
type EncapsulatedModel struct {
	SOPClassUID         string   `json:"sop_class_uid"`
	SOPInstanceUID      string   `json:"sop_instance_uid"`
	SeriesInstanceUID   string   `json:"series_instance_uid"`
	StudyInstanceUID    string   `json:"study_instance_uid"`
	FrameOfReferenceUID string   `json:"frame_of_reference_uid,omitempty"`
	Format              string   `json:"format"` // stl, obj or mtl
	MIMEType            string   `json:"mime_type"`
	Length              int64    `json:"length"`
	Units               string   `json:"units,omitempty"` // UCUM code, e.g. mm
	UnitsCode           *Code    `json:"units_code,omitempty"`
	Title               string   `json:"title,omitempty"`
	ModelUsage          []Code   `json:"model_usage,omitempty"`
	Mirrored            string   `json:"model_mirroring,omitempty"`
	Modified            string   `json:"model_modification,omitempty"`
	SourceSeriesUIDs    []string `json:"source_series_instance_uids,omitempty"`
	SourceInstances     int      `json:"source_instances,omitempty"`
	// Document is the embedded file, trimmed to EncapsulatedDocumentLength;
	// nil when the reader left it in the stream.
	Document []byte `json:"-"`
}

// EncapsulatedModelFormat returns "stl", "obj" or "mtl" for the encapsulated
// model SOP classes, else "".
func EncapsulatedModelFormat(sopClass string) string {
	switch sopClass {
	case EncapsulatedSTLStorage:
		return "stl"
	case EncapsulatedOBJStorage:
		return "obj"
	case EncapsulatedMTLStorage:
		return "mtl"
	}
	return ""
}

// NewEncapsulatedModel reads an Encapsulated STL/OBJ/MTL object, or returns
// nil for other SOP classes. Read it with Options.LoadBulk selecting
// TagEncapsulatedDocument to get the document bytes. Text is decoded through
// the object's Specific Character Set.
func NewEncapsulatedModel(obj *Object, in *Instance) *EncapsulatedModel {
	format := EncapsulatedModelFormat(in.SOPClassUID)
	if format == "" {
		return nil
	}
	ds := obj.Dataset
	cs := CharsetOf(ds, nil)
	m := &EncapsulatedModel{
		SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID,
		SeriesInstanceUID: in.SeriesInstanceUID, StudyInstanceUID: in.StudyInstanceUID,
		FrameOfReferenceUID: in.FrameOfReferenceUID,
		Format:              format,
		MIMEType:            ds.Text(TagMIMETypeOfEncapsulatedDocument, cs),
		Title:               ds.Text(TagDocumentTitle, cs),
		Mirrored:            ds.Text(TagModelMirroring, cs),
		Modified:            ds.Text(TagModelModification, cs),
	}
	doc := ds.Get(TagEncapsulatedDocument)
	if doc != nil {
		m.Length = doc.Length
		if doc.Value != nil {
			m.Document = doc.Value
		}
	}
	if n, ok := ds.Int(TagEncapsulatedDocumentLength); ok && n >= 0 && (doc == nil || n <= doc.Length) {
		m.Length = n
		if m.Document != nil && int64(len(m.Document)) >= n {
			m.Document = m.Document[:n]
		}
	}
	if u := readCode(ds.Item(TagMeasurementUnitsCodeSequence), 0, cs); u != nil {
		m.UnitsCode = u
		m.Units = u.Code
	}
	for _, it := range ds.Seq(TagModelUsageCodeSequence) {
		if c := readCode(it, 0, cs); c != nil {
			m.ModelUsage = append(m.ModelUsage, *c)
		}
	}
	refs := newUIDSet()
	m.SourceInstances = len(ds.Seq(TagSourceInstanceSequence))
	for _, rs := range ds.Seq(TagReferencedSeriesSequence) {
		refs.add(rs.Str(TagSeriesInstanceUID))
	}
	if s := refs.sorted(); len(s) > 0 {
		m.SourceSeriesUIDs = s
	}
	return m
}

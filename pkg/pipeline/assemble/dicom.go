package assemble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// headerCapture is how much of a raw DICOM object is kept to read its
// identifiers from; the identifying attributes (groups 0008–0020) sit well
// inside it unless a header is unusually large, in which case the object is
// opened a second time.
const headerCapture = 256 << 10

// ReasonNoCaseReference refuses objects that name no case: a DICOM object
// with neither AccessionNumber nor StudyInstanceUID, a model at the top of
// the bucket.
const ReasonNoCaseReference = registry.ReasonNoCaseReference

// dicom de-identifies one DICOM object, stores it, and returns its facts.
func (a *Assembler) dicom(ctx context.Context, in pipeline.Input, r io.Reader, src *watched) (pipeline.Result, error) {
	res := pipeline.Result{Kind: KindDICOM}
	hdr := a.headers.Get().(*prefix)
	hdr.b = hdr.b[:0]
	defer a.headers.Put(hdr)
	sp := newSpool(&a.bufs, a.cfg.SpoolDir, a.cfg.SpoolMemory)
	defer sp.Close()
	// What the object's readers hold in memory is reserved against the
	// budget shared by the objects in flight.
	hold := a.cfg.Budget.Hold(a.cfg.BudgetWait)
	defer hold.Release()
	ctx = dicomx.WithHold(ctx, hold)

	dres, derr := a.eng.DeidentifyTo(ctx, io.TeeReader(r, hdr), in.Size, func(*deid.Result) (io.Writer, error) { return sp, nil })
	if derr != nil {
		if err := transient(ctx, src); err != nil {
			return res, fmt.Errorf("reading the object: %w", err)
		}
		if errors.Is(derr, dicomx.ErrBusy) {
			return res, fmt.Errorf("waiting for memory: %w", derr) // retried later
		}
	}
	ids, idErr := a.identifiers(ctx, in, hdr)
	var identity casemodel.IdentityFact
	if idErr == nil {
		identity = a.reg.IdentityFact(ids)
		// The study the patient identity is recorded for when the fact
		// is applied alone: remapped as the de-identified copy's is.
		identity.StudyUID = deid.RemapUID(a.key, ids.StudyInstanceUID)
		switch aliases := casemodel.StudyAliases(a.key, ids.AccessionNumber, ids.StudyInstanceUID); {
		case len(aliases) > 1:
			res.CaseID = aliases[0] // the accession's case
			if err := a.fold(ctx, aliases[0], aliases[1:]); err != nil {
				return res, err
			}
		case len(aliases) == 1:
			// One reference only (a SEG made without the order, say):
			// its case, or the case it was folded into, like a file's.
			if err := a.inCase(ctx, aliases[0], &res); err != nil {
				return res, err
			}
		}
	} else if derr == nil {
		// De-identification read the whole header, so the identifiers
		// must be readable: a failure here is a transient read error.
		return res, idErr
	}
	if derr != nil {
		reason, detail, issues := refusal(derr)
		if res.CaseID == "" {
			// Refused before its case could be read (a file cut short in
			// its header, say): it is only in the dead-letter stream and
			// the rejected objects metric, so the error says why.
			return res, pipeline.Permanent(reason, fmt.Errorf("in no case (its AccessionNumber and StudyInstanceUID could not be read): %w", derr))
		}
		res.Facts = []casemodel.Fact{identity, casemodel.RejectedFact{Origin: a.origin(in), Reason: reason, Detail: detail, Issues: issues}}
		return res, pipeline.Permanent(reason, derr)
	}
	if res.CaseID == "" {
		return res, pipeline.Permanent(ReasonNoCaseReference, errors.New("the object has neither AccessionNumber nor StudyInstanceUID, so it names no case"))
	}

	mo := dicomx.MetaOptions(a.cfg.Limits)
	mo.Hold = hold
	obj, err := dicomx.ReadMeta(sp.Reader(), sp.Size(), mo)
	if err != nil {
		// The engine wrote it; failing to read it back is our bug, not the
		// object's, but retrying will not help either.
		return res, pipeline.Permanent(pipeline.ReasonOther, fmt.Errorf("reading back the de-identified object: %w", err))
	}
	facts := dicomx.Extract(obj)
	inst := facts.Instance
	key := res.CaseID + "/" + dres.StudyInstanceUID + "/" + dres.SeriesInstanceUID + "/" + dres.SOPInstanceUID + ".dcm"
	if err := a.put(ctx, key, "application/dicom", sp); err != nil {
		return res, err
	}
	res.Token = dicomToken(tokenObject, dres.StudyInstanceUID, dres.SeriesInstanceUID, dres.SOPInstanceUID)
	origin := casemodel.Origin{ID: inst.SOPInstanceUID, Version: in.ETag, Time: in.Modified}

	switch {
	case facts.Segmentation != nil:
		res.Kind = "seg"
		res.Facts = []casemodel.Fact{segmentationFact(origin, facts.Segmentation, identity)}
	case facts.Model != nil && facts.Model.Format != "mtl":
		res.Kind = "dicom_" + facts.Model.Format
		mf, err := a.encapsulated(ctx, origin, facts.Model, identity)
		if errors.Is(err, dicomx.ErrBusy) {
			return res, err // retried later
		}
		if err != nil {
			reason := meshReason(err)
			rj := casemodel.RejectedFact{Origin: origin, Reason: reason}
			rj.Detail, rj.Issues = meshRefusal(err, reason)
			res.Facts = []casemodel.Fact{identity, rj}
			return res, pipeline.Permanent(reason, err)
		}
		res.Facts = []casemodel.Fact{mf}
	case facts.Model != nil || obj.PixelData == nil:
		// An MTL document, or a non-image object (structured report, key
		// object…): stored, and it links the case, but it has no series
		// geometry to report.
		res.Facts = []casemodel.Fact{identity}
	default:
		seq, s, err := a.addToSeries(ctx, inst)
		if err != nil {
			return res, err
		}
		sf := seriesFact(origin, s)
		sf.Seq = seq
		sf.Identity = identity
		res.Token = dicomToken(tokenImage, dres.StudyInstanceUID, dres.SeriesInstanceUID, dres.SOPInstanceUID)
		res.Facts = []casemodel.Fact{sf}
	}
	return res, nil
}

// refusal maps a de-identification or parse error to a reason code and
// what the case shows: a de-identification refusal's or a reader's error
// is built from fixed phrases, positions, tags and sizes only, so it is an
// issue, published at once; any other error is a detail, screened as text.
func refusal(err error) (reason, detail string, issues []casemodel.RejectionIssue) {
	var re *deid.RefusedError
	if errors.As(err, &re) {
		reason = registry.ReasonUnsupported
		switch re.Reason {
		case deid.ReasonBurnedIn, deid.ReasonBurnedInSOP, deid.ReasonBurnedInModal, deid.ReasonOverlayInPixels:
			reason = registry.ReasonBurnedInText
		case deid.ReasonResidue:
			reason = registry.ReasonPHIResidue
		case deid.ReasonModelUnreadable:
			reason = registry.ReasonMalformed
		}
		return reason, "", []casemodel.RejectionIssue{{Rule: re.Reason, Message: re.Detail}}
	}
	reason = registry.ReasonMalformed
	if errors.Is(err, dicomx.ErrTooLarge) {
		reason = registry.ReasonTooLarge
	}
	var fe *dicomx.FormatError
	if errors.As(err, &fe) {
		return reason, "", []casemodel.RejectionIssue{{Rule: reason, Message: fe.Error()}}
	}
	return reason, err.Error(), nil
}

// identifiers reads the raw identifying attributes from the captured header,
// or from a second read of the object when the header did not fit.
func (a *Assembler) identifiers(ctx context.Context, in pipeline.Input, hdr *prefix) (casemodel.Identifiers, error) {
	ids, done, err := rawIdentifiers(bytes.NewReader(hdr.b), -1, a.cfg.Limits, dicomx.HoldFrom(ctx))
	if done || (err == nil && !hdr.full()) {
		return ids, nil
	}
	if !hdr.full() {
		return ids, err // the object itself ends or breaks before its identifiers
	}
	rc, oerr := in.Open(ctx)
	if oerr != nil {
		return ids, oerr
	}
	defer rc.Close()
	ids, done, err = rawIdentifiers(rc, in.Size, a.cfg.Limits, dicomx.HoldFrom(ctx))
	if done || err == nil {
		return ids, nil
	}
	return ids, err
}

// rawIdentifiers reads the attributes casemodel.Identifiers needs and stops
// after StudyInstanceUID (done is then true).
func rawIdentifiers(r io.Reader, size int64, lim dicomx.Limits, hold *dicomx.Hold) (ids casemodel.Identifiers, done bool, err error) {
	rd, err := dicomx.NewReader(r, size, dicomx.Options{Limits: lim, Hold: hold})
	if err != nil {
		return ids, false, err
	}
	var cs *dicomx.Charset
	for {
		el, err := rd.Next()
		if err == io.EOF {
			return ids, true, nil
		}
		if err != nil {
			return ids, false, err
		}
		if el.Tag > dicomx.TagStudyInstanceUID {
			return ids, true, nil
		}
		if el.Bulk {
			if err := rd.SkipValue(); err != nil {
				return ids, false, err
			}
			continue
		}
		// Text is decoded by the object's character set, which comes
		// first: screening compares it with lab text typed in UTF-8.
		switch el.Tag {
		case dicomx.TagSpecificCharacterSet:
			cs, _ = dicomx.ParseCharset(el.Strs())
		case dicomx.TagPatientName:
			ids.PatientName = el.Text(cs)
		case dicomx.TagPatientID:
			ids.PatientID = el.Text(cs)
		case dicomx.TagAccessionNumber:
			ids.AccessionNumber = el.Text(cs)
		case dicomx.TagPatientBirthDate:
			ids.BirthDate = el.Str()
		case dicomx.TagOtherPatientIDs:
			ids.OtherPatientIDs = append(ids.OtherPatientIDs, el.Texts(cs)...)
		case dicomx.TagOtherPatientIDsSequence:
			for _, it := range el.Items {
				if v := it.Get(dicomx.TagPatientID).Text(dicomx.CharsetOf(it, cs)); v != "" {
					ids.OtherPatientIDs = append(ids.OtherPatientIDs, v)
				}
			}
		case dicomx.TagStudyInstanceUID:
			ids.StudyInstanceUID = el.Str()
			return ids, true, nil
		}
	}
}

// encapsulated measures the model an Encapsulated STL or OBJ carries (its
// de-identified document: geometry kept, free text blanked).
func (a *Assembler) encapsulated(ctx context.Context, origin casemodel.Origin, m *dicomx.EncapsulatedModel, identity casemodel.IdentityFact) (casemodel.ModelFact, error) {
	if m.Document == nil {
		return casemodel.ModelFact{}, fmt.Errorf("encapsulated %s model: the document is over the size limit", m.Format)
	}
	// The tables of the measure come on top of the values the object's
	// hold already has.
	if err := dicomx.HoldFrom(ctx).Reserve(a.meshMemory(mesh.Format(m.Format), int64(len(m.Document)))); errors.Is(err, dicomx.ErrBusy) {
		return casemodel.ModelFact{}, fmt.Errorf("waiting for memory: %w", err)
	}
	opt := a.cfg.Mesh
	opt.Format, opt.Units = mesh.Format(m.Format), m.Units
	rep, err := mesh.MeasureBytes(ctx, m.Document, opt)
	if err != nil {
		return casemodel.ModelFact{}, fmt.Errorf("encapsulated %s model: %w", m.Format, err)
	}
	mf := modelFact(origin, rep)
	mf.Container = "dicom"
	mf.StudyUID, mf.SeriesUID = m.StudyInstanceUID, m.SeriesInstanceUID
	mf.Identity = identity
	return mf, nil
}

func convCode(c *dicomx.Code) *registry.Code {
	if c == nil {
		return nil
	}
	return &registry.Code{Code: c.Code, Scheme: c.Scheme, Meaning: c.Meaning}
}

func convCodes(cs []dicomx.Code) []registry.Code {
	var out []registry.Code
	for _, c := range cs {
		out = append(out, registry.Code{Code: c.Code, Scheme: c.Scheme, Meaning: c.Meaning})
	}
	return out
}

func segmentationFact(origin casemodel.Origin, s *dicomx.Segmentation, identity casemodel.IdentityFact) casemodel.SegmentationFact {
	f := casemodel.SegmentationFact{
		Origin: origin, Kind: s.Kind, StudyUID: s.StudyInstanceUID, SeriesUID: s.SeriesInstanceUID,
		SOPInstanceUID: s.SOPInstanceUID, SegmentationType: s.SegmentationType,
		ReferencedSeriesUIDs: s.ReferencedSeriesUIDs, Identity: identity,
	}
	for _, sg := range s.Segments {
		rs := casemodel.Segment{
			Number: sg.Number, Label: sg.Label, AlgorithmType: sg.AlgorithmType, AlgorithmName: sg.AlgorithmName,
			Category: convCode(sg.Category), InterpretedType: sg.InterpretedType,
		}
		if sg.Type != nil {
			rs.Type = convCode(sg.Type)
			rs.TypeModifiers = convCodes(sg.Type.Modifiers)
		}
		if len(sg.AnatomicRegion) > 0 {
			rs.AnatomicRegion = convCode(&sg.AnatomicRegion[0])
			rs.RegionModifiers = convCodes(sg.AnatomicRegion[0].Modifiers)
		}
		f.Segments = append(f.Segments, rs)
	}
	return f
}

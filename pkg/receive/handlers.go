package receive

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/stow"
)

// dimseHandler adapts the receiver to dimse.Handler.
type dimseHandler struct{ r *Receiver }

func (h dimseHandler) Ready(ctx context.Context) error { return h.r.Ready(ctx) }

// FileMeta builds the Part 10 file meta of an instance received by
// C-STORE: SOP class and instance from the command, the transfer syntax
// of the presentation context, printreg's implementation, and the calling
// AE title as source and sending AE (the called one as receiving AE).
func FileMeta(req *dimse.StoreRequest) *dicomx.Dataset {
	m := &dicomx.Dataset{}
	m.Set(dicomx.NewBytes(dicomx.TagFileMetaInformationVersion, dicomx.VROB, []byte{0, 1}))
	m.Set(dicomx.NewText(dicomx.TagMediaStorageSOPClassUID, dicomx.VRUI, req.SOPClassUID))
	m.Set(dicomx.NewText(dicomx.TagMediaStorageSOPInstanceUID, dicomx.VRUI, req.SOPInstanceUID))
	m.Set(dicomx.NewText(dicomx.TagTransferSyntaxUID, dicomx.VRUI, req.TransferSyntaxUID))
	m.Set(dicomx.NewText(dicomx.TagImplementationClassUID, dicomx.VRUI, dimse.ImplementationClassUID))
	m.Set(dicomx.NewText(dicomx.TagImplementationVersionName, dicomx.VRSH, dimse.ImplementationVersionName))
	if a := req.Association; a != nil {
		if a.CallingAE != "" {
			m.Set(dicomx.NewText(dicomx.TagSourceApplicationEntityTitle, dicomx.VRAE, a.CallingAE))
			m.Set(dicomx.NewText(dicomx.TagSendingApplicationEntityTitle, dicomx.VRAE, a.CallingAE))
		}
		if a.CalledAE != "" {
			m.Set(dicomx.NewText(dicomx.TagReceivingApplicationEntityTitle, dicomx.VRAE, a.CalledAE))
		}
	}
	return m
}

func (h dimseHandler) BeginStore(ctx context.Context, req *dimse.StoreRequest) (dimse.Sink, dimse.Result) {
	sp, err := h.r.newSpool(req.MaxBytes)
	if err != nil {
		h.r.log.Error().Err(err).Msg("cannot spool an instance")
		return nil, dimse.Result{Status: dicomstatus.OutOfResources, Comment: "receiver cannot spool the instance"}
	}
	// The header is written in explicit VR little endian whatever the
	// data set's syntax; the data set follows as received (deflated bytes
	// stay deflated).
	w := dicomx.NewWriter(sp, dicomx.SyntaxFor(dicomx.ExplicitVRLittleEndian))
	if err := w.WriteFileHeader(nil, FileMeta(req)); err != nil {
		sp.close()
		return nil, dimse.Result{Status: dicomstatus.OutOfResources, Comment: "receiver cannot spool the instance"}
	}
	sp.hdr = sp.n
	return &dimseSink{r: h.r, req: req, sp: sp, start: time.Now()}, dimse.Result{}
}

// dimseSink spools one C-STORE data set and commits it to the store.
type dimseSink struct {
	r     *Receiver
	req   *dimse.StoreRequest
	sp    *spool
	start time.Time
}

func (s *dimseSink) Write(p []byte) (int, error) { return s.sp.Write(p) }

func (s *dimseSink) Abort() { s.sp.close() }

func (s *dimseSink) Commit(ctx context.Context) dimse.Result {
	defer s.sp.close()
	obj, err := s.sp.finish()
	if err != nil {
		s.r.log.Error().Err(err).Msg("spooling an instance failed")
		return dimse.Result{Status: dicomstatus.OutOfResources, Comment: "receiver cannot spool the instance"}
	}
	id, st, why := s.r.headerIDs(obj, "dimse", "data set cannot be parsed")
	if id == nil {
		return dimse.Result{Status: st, Comment: why}
	}
	if st, why := checkIDs(id); !st.IsSuccess() {
		return dimse.Result{Status: st, Comment: why}
	}
	if id.sopInstance != s.req.SOPInstanceUID {
		return dimse.Result{Status: dicomstatus.DataSetMismatch, Comment: "SOP instance UID differs from the request"}
	}
	if id.sopClass != s.req.SOPClassUID {
		return dimse.Result{Status: dicomstatus.DataSetMismatch, Comment: "SOP class UID differs from the request"}
	}
	key, err := s.r.put(ctx, obj, id)
	if err != nil {
		s.r.log.Error().Err(err).Msg("store refused an instance")
		return dimse.Result{Status: dicomstatus.OutOfResources, Comment: "object store unavailable"}
	}
	s.r.log.Debug().Str("key", key).Int64("bytes", obj.Size()).Str("sop_class", dicomx.UIDName(id.sopClass)).
		Dur("took", time.Since(s.start)).Msg("instance stored")
	return dimse.Result{Status: dicomstatus.Success}
}

// stowStorer adapts the receiver to stow.Storer.
type stowStorer struct{ r *Receiver }

func (s stowStorer) Ready(ctx context.Context) error { return s.r.Ready(ctx) }

func (s stowStorer) StoreInstance(ctx context.Context, body io.Reader, opt stow.InstanceOptions) stow.InstanceResult {
	r := s.r
	start := time.Now()
	sp, err := r.newSpool(opt.MaxBytes)
	if err != nil {
		r.log.Error().Err(err).Msg("cannot spool an instance")
		return stow.InstanceResult{Status: dicomstatus.OutOfResources, Comment: "receiver cannot spool the instance"}
	}
	defer sp.close()
	if _, err := io.Copy(sp, body); err != nil {
		if errors.Is(err, errTooLarge) {
			return stow.InstanceResult{Status: dicomstatus.OutOfResources, Comment: "instance larger than the configured limit"}
		}
		return stow.InstanceResult{Status: dicomstatus.ProcessingFailure, Comment: "instance could not be read from the request"}
	}
	obj, err := sp.finish()
	if err != nil {
		return stow.InstanceResult{Status: dicomstatus.OutOfResources, Comment: "receiver cannot spool the instance"}
	}
	id, st, why := r.headerIDs(obj, "stow", "instance cannot be parsed")
	if id == nil {
		return stow.InstanceResult{Status: st, Comment: why}
	}
	res := stow.InstanceResult{SOPClassUID: id.sopClass, SOPInstanceUID: id.sopInstance}
	if !validUID(res.SOPClassUID) {
		res.SOPClassUID = ""
	}
	if !validUID(res.SOPInstanceUID) {
		res.SOPInstanceUID = ""
	}
	fail := func(st dicomstatus.Code, why string) stow.InstanceResult {
		res.Status, res.Comment = st, why
		return res
	}
	if id.syntax == "" {
		return fail(dicomstatus.CannotUnderstand, "not a Part 10 file (no file meta with a transfer syntax)")
	}
	if st, why := checkIDs(id); !st.IsSuccess() {
		return fail(st, why)
	}
	if ms := id.meta.Str(dicomx.TagMediaStorageSOPInstanceUID); ms != "" && ms != id.sopInstance {
		return fail(dicomstatus.DataSetMismatch, "file meta and data set disagree on the SOP instance UID")
	}
	if mc := id.meta.Str(dicomx.TagMediaStorageSOPClassUID); mc != "" && mc != id.sopClass {
		return fail(dicomstatus.DataSetMismatch, "file meta and data set disagree on the SOP class UID")
	}
	if !r.dimse.AcceptsSOPClass(id.sopClass) {
		return fail(dicomstatus.SOPClassNotSupported, "SOP class not supported")
	}
	if !r.dimse.AcceptsTransferSyntax(id.syntax) {
		return fail(dicomstatus.TransferSyntaxUnsupported, "transfer syntax not accepted")
	}
	if opt.StudyInstanceUID != "" && opt.StudyInstanceUID != id.study {
		return fail(dicomstatus.DataSetMismatch, "instance belongs to another study than the URL")
	}
	key, err := r.put(ctx, obj, id)
	if err != nil {
		r.log.Error().Err(err).Msg("store refused an instance")
		return fail(dicomstatus.OutOfResources, "object store unavailable")
	}
	r.log.Debug().Str("key", key).Int64("bytes", obj.Size()).Str("sop_class", dicomx.UIDName(id.sopClass)).
		Str("client", opt.Client).Dur("took", time.Since(start)).Msg("instance stored")
	res.Status = dicomstatus.Success
	return res
}

// headerIDs reads a spooled instance's identifiers against the memory
// budget, for the receiver door named; an instance that cannot be read
// comes back nil with the status and comment to answer (out of resources
// while the budget stays full, else unparseable) and is logged by reason.
func (r *Receiver) headerIDs(obj *io.SectionReader, door, unparseable string) (*ids, dicomstatus.Code, string) {
	hold := r.cfg.Budget.Hold(r.cfg.BudgetWait)
	id, err := readIDs(obj, hold)
	hold.Release()
	if err == nil {
		return id, dicomstatus.Success, ""
	}
	r.log.Warn().Str("reason", refusalReason(err)).Str("door", door).Msg("instance refused")
	if errors.Is(err, dicomx.ErrBusy) {
		return nil, dicomstatus.OutOfResources, "receiver memory busy; retry later"
	}
	return nil, dicomstatus.CannotUnderstand, unparseable
}

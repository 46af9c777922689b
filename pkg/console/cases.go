package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

type casesData struct {
	Cases   []caseSummary
	Merged  int
	Synced  bool
	Err     string
	Filter  listFilter
	Total   int
	Message string
}

func (s *Server) casesPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.renderCases(w, r, sess, http.StatusOK, "")
}

func (s *Server) renderCases(w http.ResponseWriter, r *http.Request, sess *session, status int, message string) {
	q := r.URL.Query()
	f := listFilter{NotReady: q.Get("not_ready") != "", Rejections: q.Get("rejections") != "", Receiving: q.Get("receiving") != ""}
	cases, merged, synced, errText := s.index.list(f)
	all, _, _, _ := s.index.list(listFilter{})
	s.render(w, status, "cases", sess, view{Title: "Cases", Nav: "cases", Data: casesData{
		Cases: cases, Merged: merged, Synced: synced, Err: errText, Filter: f, Total: len(all), Message: message,
	}})
}

// search finds the case of an accession number or StudyInstanceUID. The
// reference comes in the POST body and is hashed at once; it is never
// logged, stored or shown, and the answer is a redirect to the case id.
func (s *Server) search(w http.ResponseWriter, r *http.Request, sess *session) {
	r, cancel := withDeadline(r)
	defer cancel()
	ref := r.PostForm.Get("ref")
	r.PostForm.Del("ref")
	r.Form = nil
	id := casemodel.CaseID(s.deps.Key, ref)
	ref = ""
	if id == "" {
		s.renderCases(w, r, sess, http.StatusBadRequest, "Type an accession number or a StudyInstanceUID to search for.")
		return
	}
	target, ev, err := s.resolveCase(r.Context(), id)
	if err != nil {
		s.log.Warn().Err(err).Msg("search failed")
		s.renderCases(w, r, sess, http.StatusServiceUnavailable, "The case events could not be read; try again.")
		return
	}
	if ev == nil {
		s.audit.record(r, sess.user, "search", "not_found", nil)
		s.renderCases(w, r, sess, http.StatusNotFound, noCaseText)
		return
	}
	s.audit.record(r, sess.user, "search", "found", map[string]string{"case_id": target})
	http.Redirect(w, r, "/cases/"+target, http.StatusSeeOther)
}

// noCaseText answers a reference that names no case, without repeating it.
const noCaseText = "No case for this reference. It is case-sensitive (ACC123 and acc123 are different cases); " +
	"spaces around it are ignored. Check that it is the accession number (or, without one, the StudyInstanceUID) " +
	"the files were filed under and that they have been processed."

// resolveCase follows a case id through the alias a study records for its
// StudyInstanceUID, then through merged_into, to the case holding its
// facts and that case's last event (nil when it has none).
func (s *Server) resolveCase(ctx context.Context, id string) (string, *caseEvent, error) {
	l, err := assemble.FindCase(ctx, s.deps.JS, s.deps.Topology, s.deps.Aliases, id)
	if errors.Is(err, jetstream.ErrStreamNotFound) || err == nil && l.Last == nil {
		return l.ID, nil, nil
	}
	if err != nil {
		return l.ID, nil, err
	}
	var ev caseEvent
	if err := json.Unmarshal(l.Last, &ev); err != nil || ev.Data.Case.CaseID == "" {
		return l.ID, nil, fmt.Errorf("case %s: the last event is not a case event", l.ID)
	}
	return l.ID, &ev, nil
}

// lastEvent reads a case's last event (nil when it has none).
func (s *Server) lastEvent(ctx context.Context, id string) (*caseEvent, error) {
	stream, err := s.deps.JS.Stream(ctx, s.deps.Topology.RegistryStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	msg, err := stream.GetLastMsgForSubject(ctx, s.deps.Topology.CaseSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ev caseEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Data.Case.CaseID == "" {
		return nil, fmt.Errorf("case %s: the last event is not a case event", id)
	}
	return &ev, nil
}

// caseView is everything the case page shows.
type caseView struct {
	ID       string
	Ev       *caseEvent
	Snap     *registry.Snapshot
	Status   string
	Models   []modelView
	Rejected []rejectedView
	// LabWithheld lists the lab's free-text fields not shown (withheld).
	LabWithheld []registry.Withheld
	OtherWith   []registry.Withheld
	Segments    int
	ImportMap   bool
}

type modelView struct {
	registry.ModelSnapshot
	Index int
	URL   string
}

type rejectedView struct {
	registry.RejectedSnapshot
	// Entries are the dead-letter entries of the object (their ids), for
	// the replay buttons.
	Entries []uint64
}

func (s *Server) loadCase(ctx context.Context, id string) (*caseView, string, error) {
	ev, err := s.lastEvent(ctx, id)
	if err != nil || ev == nil {
		return nil, "", err
	}
	if into := ev.Data.Case.MergedInto; into != "" && registry.IsCaseID(into) {
		return nil, into, nil
	}
	snap := &ev.Data.Case
	v := &caseView{ID: id, Ev: ev, Snap: snap, Status: caseStatus(snap)}
	for i, m := range snap.Models {
		mv := modelView{ModelSnapshot: m, Index: i + 1}
		if viewable(m) {
			mv.URL = "/cases/" + id + "/models/" + m.Object + "." + m.Format
		}
		v.Models = append(v.Models, mv)
	}
	for _, w := range snap.Withheld {
		if strings.HasPrefix(w.Field, "lab.") {
			v.LabWithheld = append(v.LabWithheld, w)
		} else {
			v.OtherWith = append(v.OtherWith, w)
		}
	}
	for _, sg := range snap.Segmentations {
		v.Segments += len(sg.Segments)
	}
	if len(snap.Rejected) > 0 {
		byObject := map[string][]uint64{}
		if entries, _, err := s.dlqEntries(ctx, ""); err == nil {
			for _, e := range entries {
				if e.Object != "" {
					byObject[e.Object] = append(byObject[e.Object], e.ID)
				}
			}
		}
		for _, rj := range snap.Rejected {
			v.Rejected = append(v.Rejected, rejectedView{RejectedSnapshot: rj, Entries: byObject[rj.Object]})
		}
	}
	return v, "", nil
}

// viewable: a model file the de-identified bucket holds as a file of its
// own (Encapsulated STL/OBJ stays inside its DICOM object).
func viewable(m registry.ModelSnapshot) bool {
	return m.Container == "" && validObject(m.Object) && (m.Format == "stl" || m.Format == "3mf" || m.Format == "obj") &&
		!slices.Contains(m.Flags, registry.ModelEmpty)
}

func validObject(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '.') {
			return false
		}
	}
	return !strings.Contains(s, "..")
}

func (s *Server) caseID(w http.ResponseWriter, r *http.Request, sess *session) (string, bool) {
	id := r.PathValue("id")
	if !registry.IsCaseID(id) {
		s.notFound(w, sess, "A case is named by its case id: 32 lower-case hexadecimal characters. To find a case by its accession number, use the search on the cases page.")
		return "", false
	}
	return id, true
}

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, sess *session) {
	r, cancel := withDeadline(r)
	defer cancel()
	id, ok := s.caseID(w, r, sess)
	if !ok {
		return
	}
	v, into, err := s.loadCase(r.Context(), id)
	if err != nil {
		s.log.Warn().Err(err).Str("case_id", id).Msg("reading a case")
		s.render(w, http.StatusServiceUnavailable, "error", sess, view{Title: "Unavailable", Data: "The case events could not be read; try again."})
		return
	}
	if into != "" {
		sess.flash = "That case was merged into this one."
		http.Redirect(w, r, "/cases/"+into, http.StatusSeeOther)
		return
	}
	if v == nil {
		// No event yet (a case.json just saved for a new case, say): the
		// page waits for the first one.
		v = &caseView{ID: id}
	}
	v.ImportMap = true
	s.render(w, http.StatusOK, "case", sess, view{Title: "Case " + id[:8], Nav: "cases", ImportMap: importMapHTML, Data: v})
}

// caseLive is the part of the case page that follows new events.
func (s *Server) caseLive(w http.ResponseWriter, r *http.Request, sess *session) {
	r, cancel := withDeadline(r)
	defer cancel()
	id, ok := s.caseID(w, r, sess)
	if !ok {
		return
	}
	v, into, err := s.loadCase(r.Context(), id)
	if err != nil || into != "" {
		http.Error(w, "the case cannot be shown", http.StatusNotFound)
		return
	}
	if v == nil {
		v = &caseView{ID: id}
	}
	s.fragment(w, "case", "live", sess, view{Data: v})
}

// caseEvents streams server-sent events, one per new event of the case
// (its version), so the page can fetch its live part again.
func (s *Server) caseEvents(w http.ResponseWriter, r *http.Request, sess *session) {
	id, ok := s.caseID(w, r, sess)
	if !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, cancel := s.index.subscribe(id)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "retry: 3000\n\n")
	fl.Flush()
	last := uint64(0)
	send := func() bool {
		c, ok := s.index.get(id)
		if !ok || c.Version == last {
			return true
		}
		last = c.Version
		_, err := fmt.Fprintf(w, "event: case\ndata: %d\n\n", c.Version)
		fl.Flush()
		return err == nil
	}
	send()
	tick := time.NewTicker(25 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ch:
			if !send() {
				return
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// caseModel streams a de-identified model file from the de-identified
// bucket, for the 3D view. Only models the case's snapshot lists are
// served.
func (s *Server) caseModel(w http.ResponseWriter, r *http.Request, sess *session) {
	id, ok := s.caseID(w, r, sess)
	if !ok {
		return
	}
	obj, format, _ := strings.Cut(r.PathValue("file"), ".")
	ev, err := s.lastEvent(r.Context(), id)
	if err != nil || ev == nil {
		http.NotFound(w, r)
		return
	}
	var model *registry.ModelSnapshot
	for i, m := range ev.Data.Case.Models {
		if m.Object == obj && m.Format == format && viewable(m) {
			model = &ev.Data.Case.Models[i]
		}
	}
	if model == nil {
		http.NotFound(w, r)
		return
	}
	// A model dropped under a case that was later merged into this one
	// stays under the id it was written with.
	var rc io.ReadCloser
	var info objstore.ObjectInfo
	for _, cid := range append([]string{id}, ev.Data.Case.Aliases...) {
		if !registry.IsCaseID(cid) {
			continue
		}
		key := cid + "/models/" + obj + "." + format
		if info, err = s.deps.Deid.Stat(r.Context(), key); err != nil {
			continue
		}
		if rc, err = s.deps.Deid.Get(r.Context(), key); err == nil {
			break
		}
	}
	if rc == nil {
		http.Error(w, "the de-identified model file is not there", http.StatusNotFound)
		return
	}
	defer rc.Close()
	ctype := map[string]string{"stl": "model/stl", "3mf": "model/3mf", "obj": "model/obj"}[format]
	w.Header().Set("Content-Type", ctype)
	if info.Size > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(info.Size))
	}
	w.Header().Set("Content-Disposition", "inline")
	_, _ = io.Copy(w, objstore.ExactReader(rc, info.Size))
}

// readDeadline bounds what one page may spend reading case events and
// aliases (several NATS requests, each with the library's own timeout).
const readDeadline = 30 * time.Second

// withDeadline gives a request's context a readDeadline.
func withDeadline(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), readDeadline)
	return r.WithContext(ctx), cancel
}

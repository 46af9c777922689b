package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// enums are the case.json value lists, read from the schema the workers
// validate against, so the form offers exactly what is accepted.
type enums struct {
	ObjectTypes, IntendedUses, OrderingServices, Lateralities, GuideTypes, Technologies, Opticals, ProcedureUses []string
}

var (
	enumsOnce sync.Once
	enumsVal  enums
)

func caseEnums() enums {
	enumsOnce.Do(func() {
		b, err := registry.Schemas.ReadFile(registry.SidecarSchemaFile)
		if err != nil {
			return
		}
		var doc map[string]any
		if json.Unmarshal(b, &doc) != nil {
			return
		}
		get := func(path ...string) []string {
			var node any = doc
			for _, p := range path {
				m, ok := node.(map[string]any)
				if !ok {
					return nil
				}
				node = m[p]
			}
			m, _ := node.(map[string]any)
			list, _ := m["enum"].([]any)
			out := make([]string, 0, len(list))
			for _, v := range list {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		enumsVal = enums{
			ObjectTypes:      get("properties", "object_type"),
			IntendedUses:     get("properties", "intended_use"),
			OrderingServices: get("properties", "ordering_service"),
			Lateralities:     get("$defs", "part", "properties", "laterality"),
			GuideTypes:       get("$defs", "guide", "properties", "type"),
			Technologies:     get("$defs", "print", "properties", "printer", "properties", "technology"),
			Opticals:         get("$defs", "print", "properties", "optical"),
			ProcedureUses:    get("properties", "procedure", "properties", "used"),
		}
	})
	return enumsVal
}

// Rows the form offers: every row case.json allows. The rows after the
// first empty one of a section are spare: the page's script hides them
// behind an "Add" button (without scripts they are all shown).
const (
	maxIndications = 10
	maxParts       = 20
	maxGuides      = 20
	maxPrints      = 5
)

type indicationRow struct{ Text, ICD string }
type partRow struct{ Region, Subregion, Structure, Laterality, Comment string }
type guideRow struct{ Type, Comment string }
type printRow struct {
	Parts, Guides, Label, Manufacturer, Model, Technology, Material, Scale, Optical, Copies string
}
type effortRow struct {
	Key, Label              string
	Clinician, NonClinician string
}

// labForm is the lab form's values, as typed (strings), so a refused form
// comes back as it was sent — except the case reference, which is never
// written into a page.
type labForm struct {
	CaseID                                                          string
	ObjectType, IntendedUse, IntendedUseText                        string
	OrderingService, OrderingServiceText                            string
	Indications                                                     []indicationRow
	Parts                                                           []partRow
	Guides                                                          []guideRow
	Prints                                                          []printRow
	Effort                                                          []effortRow
	ProcedureUsed, ProcedureComment                                 string
	ConfidenceBefore, ConfidenceAfter, TimeSaved, AssessmentComment string

	Enums       enums
	Issues      []casemodel.FieldIssue
	RefError    string
	Withheld    []registry.Withheld
	MaxUpload   int64
	HasModels   bool
	fieldErrors map[string]string
	// filled counts the rows holding values per section (indications,
	// parts, guides, prints) once padded.
	filled [4]int
}

// Err returns the problem found with a field (by its case.json path).
func (f *labForm) Err(field string) string { return f.fieldErrors[field] }

// fieldID is the id of a field's input, from its case.json path.
func fieldID(field string) string {
	r := strings.NewReplacer("[", "-", "]", "", ".", "-", "(", "", ")", "")
	return "f-" + r.Replace(field)
}

var effortActivities = []struct{ key, label string }{
	{"consultation", "Consultation"}, {"segmentation", "Segmentation"}, {"cad", "CAD (design)"}, {"post_processing", "Post-processing"},
}

func newLabForm() *labForm {
	f := &labForm{Enums: caseEnums(), fieldErrors: map[string]string{}}
	for _, a := range effortActivities {
		f.Effort = append(f.Effort, effortRow{Key: a.key, Label: a.label})
	}
	return f
}

// pad adds empty rows up to each section's maximum; filled is how many
// rows of each section hold values, for marking the spare ones.
func (f *labForm) pad() {
	f.filled = [4]int{len(f.Indications), len(f.Parts), len(f.Guides), len(f.Prints)}
	for len(f.Indications) < maxIndications {
		f.Indications = append(f.Indications, indicationRow{})
	}
	for len(f.Parts) < maxParts {
		f.Parts = append(f.Parts, partRow{})
	}
	for len(f.Guides) < maxGuides {
		f.Guides = append(f.Guides, guideRow{})
	}
	for len(f.Prints) < maxPrints {
		f.Prints = append(f.Prints, printRow{})
	}
}

// fromLab fills the form from a case's published lab facts (text that was
// withheld is not there: the page says so).
func (f *labForm) fromLab(l *registry.LabSnapshot) {
	f.ObjectType, f.IntendedUse, f.IntendedUseText = l.ObjectType, l.IntendedUse, l.IntendedUseText
	f.OrderingService, f.OrderingServiceText = l.OrderingService, l.OrderingServiceText
	for _, in := range l.Indications {
		f.Indications = append(f.Indications, indicationRow{Text: in.Text, ICD: strings.Join(in.ICD10CM, ", ")})
	}
	for _, p := range l.Parts {
		f.Parts = append(f.Parts, partRow{p.Region, p.Subregion, p.Structure, p.Laterality, p.Comment})
	}
	for _, g := range l.Guides {
		f.Guides = append(f.Guides, guideRow{g.Type, g.Comment})
	}
	for _, p := range l.Prints {
		pr := printRow{Parts: intList(p.Parts), Guides: intList(p.Guides), Label: p.Printer.Label, Manufacturer: p.Printer.Manufacturer,
			Model: p.Printer.Model, Technology: p.Printer.Technology, Material: p.Material, Optical: p.Optical}
		if p.Scale != 0 {
			pr.Scale = strconv.FormatFloat(p.Scale, 'f', -1, 64)
		}
		if p.Copies != 0 {
			pr.Copies = strconv.Itoa(p.Copies)
		}
		f.Prints = append(f.Prints, pr)
	}
	if e := l.Effort; e != nil {
		for i, sm := range []registry.StaffMinutes{e.Consultation, e.Segmentation, e.CAD, e.PostProcessing} {
			f.Effort[i].Clinician, f.Effort[i].NonClinician = minutesText(sm.Clinician), minutesText(sm.NonClinician)
		}
	}
	if p := l.Procedure; p != nil {
		f.ProcedureUsed, f.ProcedureComment = p.Used, p.Comment
	}
	if a := l.Assessment; a != nil {
		if a.ConfidenceBefore > 0 {
			f.ConfidenceBefore = strconv.Itoa(a.ConfidenceBefore)
		}
		if a.ConfidenceAfter > 0 {
			f.ConfidenceAfter = strconv.Itoa(a.ConfidenceAfter)
		}
		if a.TimeSavedMinutes != nil {
			f.TimeSaved = strconv.Itoa(*a.TimeSavedMinutes)
		}
		f.AssessmentComment = a.Comment
	}
}

func intList(n []int) string {
	s := make([]string, len(n))
	for i, v := range n {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}

func minutesText(m registry.Minutes) string {
	if m.Unknown {
		return "unknown"
	}
	return strconv.Itoa(m.Value)
}

// fromPost reads the form's fields; empty rows are dropped, so rows are
// numbered as case.json numbers them.
func (f *labForm) fromPost(form map[string][]string) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f.CaseID = get("case_id")
	if !registry.IsCaseID(f.CaseID) {
		f.CaseID = ""
	}
	f.ObjectType, f.IntendedUse, f.IntendedUseText = get("object_type"), get("intended_use"), get("intended_use_text")
	f.OrderingService, f.OrderingServiceText = get("ordering_service"), get("ordering_service_text")
	for i := range maxIndications {
		p := fmt.Sprintf("indications.%d.", i)
		r := indicationRow{get(p + "text"), get(p + "icd10cm")}
		if r != (indicationRow{}) {
			f.Indications = append(f.Indications, r)
		}
	}
	for i := range maxParts {
		p := fmt.Sprintf("parts.%d.", i)
		r := partRow{get(p + "region"), get(p + "subregion"), get(p + "structure"), get(p + "laterality"), get(p + "comment")}
		if r != (partRow{}) {
			f.Parts = append(f.Parts, r)
		}
	}
	for i := range maxGuides {
		p := fmt.Sprintf("guides.%d.", i)
		r := guideRow{get(p + "type"), get(p + "comment")}
		if r != (guideRow{}) {
			f.Guides = append(f.Guides, r)
		}
	}
	for i := range maxPrints {
		p := fmt.Sprintf("prints.%d.", i)
		r := printRow{get(p + "parts"), get(p + "guides"), get(p + "label"), get(p + "manufacturer"), get(p + "model"),
			get(p + "technology"), get(p + "material"), get(p + "scale"), get(p + "optical"), get(p + "copies")}
		if r != (printRow{}) {
			f.Prints = append(f.Prints, r)
		}
	}
	for i := range f.Effort {
		f.Effort[i].Clinician = get("effort." + f.Effort[i].Key + ".clinician")
		f.Effort[i].NonClinician = get("effort." + f.Effort[i].Key + ".non_clinician")
	}
	f.ProcedureUsed, f.ProcedureComment = get("procedure.used"), get("procedure.comment")
	f.ConfidenceBefore, f.ConfidenceAfter = get("assessment.confidence_before"), get("assessment.confidence_after")
	f.TimeSaved, f.AssessmentComment = get("assessment.time_saved_minutes"), get("assessment.comment")
}

func (f *labForm) issue(field, rule, msg string) {
	f.Issues = append(f.Issues, casemodel.FieldIssue{Field: field, Rule: rule, Message: msg})
}

// sidecar builds case.json from the form. Values the form cannot turn
// into case.json's types are reported as issues; everything else is left
// to casemodel.ParseSidecar, the workers' own validation.
func (f *labForm) sidecar() []byte {
	sc := casemodel.Sidecar{ObjectType: f.ObjectType, IntendedUse: f.IntendedUse, IntendedUseText: f.IntendedUseText,
		OrderingService: f.OrderingService, OrderingServiceText: f.OrderingServiceText}
	for i, r := range f.Indications {
		in := registry.Indication{Text: r.Text}
		for c := range strings.FieldsFuncSeq(r.ICD, func(c rune) bool { return c == ',' || c == ';' || unicode.IsSpace(c) }) {
			in.ICD10CM = append(in.ICD10CM, c)
		}
		_ = i
		sc.Indications = append(sc.Indications, in)
	}
	for _, r := range f.Parts {
		sc.Parts = append(sc.Parts, registry.Part{Region: r.Region, Subregion: r.Subregion, Structure: r.Structure, Laterality: r.Laterality, Comment: r.Comment})
	}
	for _, r := range f.Guides {
		sc.Guides = append(sc.Guides, registry.Guide{Type: r.Type, Comment: r.Comment})
	}
	for i, r := range f.Prints {
		p := registry.Print{Printer: registry.Printer{Label: r.Label, Manufacturer: r.Manufacturer, Model: r.Model, Technology: r.Technology},
			Material: r.Material, Optical: r.Optical}
		p.Parts = f.refs(fmt.Sprintf("prints[%d].parts", i), r.Parts)
		p.Guides = f.refs(fmt.Sprintf("prints[%d].guides", i), r.Guides)
		if r.Scale != "" {
			v, err := strconv.ParseFloat(r.Scale, 64)
			if err != nil || v <= 0 {
				f.issue(fmt.Sprintf("prints[%d].scale", i), "type", "must be a number above 0, at most 10")
			}
			p.Scale = v
		}
		if r.Copies != "" {
			v, err := strconv.Atoi(r.Copies)
			if err != nil || v <= 0 {
				f.issue(fmt.Sprintf("prints[%d].copies", i), "type", "must be a whole number from 1 to 100")
			}
			p.Copies = v
		}
		sc.Prints = append(sc.Prints, p)
	}
	anyEffort := false
	for _, e := range f.Effort {
		anyEffort = anyEffort || e.Clinician != "" || e.NonClinician != ""
	}
	if anyEffort {
		var mins [8]registry.Minutes
		for i, e := range f.Effort {
			mins[2*i] = f.minutes("effort."+e.Key+".clinician", e.Clinician)
			mins[2*i+1] = f.minutes("effort."+e.Key+".non_clinician", e.NonClinician)
		}
		sc.Effort = &registry.Effort{
			Consultation:   registry.StaffMinutes{Clinician: mins[0], NonClinician: mins[1]},
			Segmentation:   registry.StaffMinutes{Clinician: mins[2], NonClinician: mins[3]},
			CAD:            registry.StaffMinutes{Clinician: mins[4], NonClinician: mins[5]},
			PostProcessing: registry.StaffMinutes{Clinician: mins[6], NonClinician: mins[7]},
		}
	}
	if f.ProcedureUsed != "" || f.ProcedureComment != "" {
		sc.Procedure = &registry.Procedure{Used: f.ProcedureUsed, Comment: f.ProcedureComment}
	}
	if f.ConfidenceBefore != "" || f.ConfidenceAfter != "" || f.TimeSaved != "" || f.AssessmentComment != "" {
		a := &registry.Assessment{Comment: f.AssessmentComment}
		a.ConfidenceBefore = f.likert("assessment.confidence_before", f.ConfidenceBefore)
		a.ConfidenceAfter = f.likert("assessment.confidence_after", f.ConfidenceAfter)
		if f.TimeSaved != "" {
			v, err := strconv.Atoi(f.TimeSaved)
			if err != nil {
				f.issue("assessment.time_saved_minutes", "type", "must be a whole number of minutes from -1440 to 1440")
			}
			a.TimeSavedMinutes = &v
		}
		sc.Assessment = a
	}
	b, _ := json.MarshalIndent(sc, "", "  ")
	return append(b, '\n')
}

func (f *labForm) refs(field, s string) []int {
	var out []int
	for part := range strings.FieldsFuncSeq(s, func(c rune) bool { return c == ',' || unicode.IsSpace(c) }) {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			f.issue(field, "type", "list numbers from 1, separated by commas")
			return nil
		}
		out = append(out, n)
	}
	return out
}

func (f *labForm) minutes(field, s string) registry.Minutes {
	switch {
	case s == "":
		f.issue(field, "required", "all eight timers are needed once one is given: minutes, or unknown")
	case strings.EqualFold(s, "unknown"):
		return registry.Minutes{Unknown: true}
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10080 {
			f.issue(field, "type", "must be a whole number of minutes from 0 to 10080, or unknown")
			return registry.Minutes{}
		}
		return registry.Minutes{Value: n}
	}
	return registry.Minutes{}
}

func (f *labForm) likert(field, s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 5 {
		f.issue(field, "type", "must be a whole number from 1 to 5")
		return 0
	}
	return n
}

// validate builds case.json and checks it as the workers will; it returns
// the file when it is valid.
func (f *labForm) validate() ([]byte, bool) {
	b := f.sidecar()
	if len(f.Issues) == 0 {
		if _, err := casemodel.ParseSidecar(b); err != nil {
			var se *casemodel.SidecarError
			if errors.As(err, &se) {
				f.Issues = append(f.Issues, se.Issues...)
			} else {
				f.issue("(document)", "json", "the form could not be turned into case.json")
			}
		}
	}
	for _, is := range f.Issues {
		if _, dup := f.fieldErrors[is.Field]; !dup {
			f.fieldErrors[is.Field] = is.Message
		}
	}
	return b, len(f.Issues) == 0
}

// cleanRef trims what DICOM and typing add around a reference.
func cleanRef(ref string) string {
	return strings.Trim(ref, " \t\r\n\x00")
}

// refForKey reports whether a reference can name a case folder: one path
// segment of printable characters.
func refForKey(ref string) bool {
	if ref == "" || len(ref) > 256 || ref == "." || ref == ".." {
		return false
	}
	for _, c := range ref {
		if c == '/' || c == '\\' || !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// checkRef hashes the typed reference and checks it names the case the
// form was opened for (directly, or as the study's other reference). It
// returns the case id the files will reach.
func (s *Server) checkRef(ctx context.Context, ref, caseID string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, readDeadline)
	defer cancel()
	if ref == "" {
		return "", "Type the case's accession number (or StudyInstanceUID): files are filed under it."
	}
	if !refForKey(ref) {
		return "", "This reference cannot name a case folder (it holds a slash or a control character)."
	}
	id := casemodel.CaseID(s.deps.Key, ref)
	if caseID == "" || id == caseID {
		return id, ""
	}
	target, _, err := s.resolveCase(ctx, id)
	if err == nil && target == caseID {
		return id, ""
	}
	return "", "This reference does not name this case. It is case-sensitive; check it and type it again."
}

func (s *Server) labNew(w http.ResponseWriter, r *http.Request, sess *session) {
	f := newLabForm()
	f.MaxUpload = s.cfg.MaxUploadBytes
	f.pad()
	s.render(w, http.StatusOK, "lab", sess, view{Title: "New case.json", Nav: "lab", Data: f})
}

func (s *Server) labEdit(w http.ResponseWriter, r *http.Request, sess *session) {
	id, ok := s.caseID(w, r, sess)
	if !ok {
		return
	}
	f := newLabForm()
	f.CaseID, f.MaxUpload = id, s.cfg.MaxUploadBytes
	ev, err := s.lastEvent(r.Context(), id)
	if err != nil {
		s.render(w, http.StatusServiceUnavailable, "error", sess, view{Title: "Unavailable", Data: "The case events could not be read; try again."})
		return
	}
	if ev != nil {
		if ev.Data.Case.Lab != nil {
			f.fromLab(ev.Data.Case.Lab)
		}
		for _, w := range ev.Data.Case.Withheld {
			if strings.HasPrefix(w.Field, "lab.") {
				f.Withheld = append(f.Withheld, w)
			}
		}
		f.HasModels = len(ev.Data.Case.Models) > 0
	}
	f.pad()
	s.render(w, http.StatusOK, "lab", sess, view{Title: "case.json of case " + id[:8], Nav: "lab", Data: f})
}

// labSave validates the form as the workers will and writes case.json into
// the raw bucket under the typed reference.
func (s *Server) labSave(w http.ResponseWriter, r *http.Request, sess *session) {
	f := newLabForm()
	f.MaxUpload = s.cfg.MaxUploadBytes
	f.fromPost(r.PostForm)
	ref := cleanRef(r.PostForm.Get("ref"))
	r.PostForm.Del("ref")
	r.Form = nil
	id, refErr := s.checkRef(r.Context(), ref, f.CaseID)
	b, valid := f.validate()
	fields := map[string]string{}
	if f.CaseID != "" {
		fields["case_id"] = f.CaseID
	}
	if refErr != "" || !valid {
		f.RefError = refErr
		f.pad()
		fields["issues"] = strconv.Itoa(len(f.Issues))
		if refErr != "" {
			fields["reference"] = "refused"
		}
		s.audit.record(r, sess.user, "lab_save", "invalid", fields)
		s.render(w, http.StatusUnprocessableEntity, "lab", sess, view{Title: "case.json — please check", Nav: "lab", Data: f})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	key := s.cfg.ModelsPrefix + ref + "/case.json"
	ref = ""
	fields["case_id"] = id
	if _, err := s.deps.Raw.Put(ctx, key, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{ContentType: "application/json"}); err != nil {
		s.log.Warn().Err(err).Str("case_id", id).Msg("writing case.json failed")
		s.audit.record(r, sess.user, "lab_save", "failed", fields)
		f.RefError = "case.json could not be written to the raw bucket; try again."
		f.pad()
		s.render(w, http.StatusServiceUnavailable, "lab", sess, view{Title: "case.json", Nav: "lab", Data: f})
		return
	}
	s.audit.record(r, sess.user, "lab_save", "ok", fields)
	sess.flash = "case.json saved. The case shows it once a worker has read it (usually within seconds)."
	target := id
	if f.CaseID != "" {
		target = f.CaseID
	}
	http.Redirect(w, r, "/cases/"+target, http.StatusSeeOther)
}

var errUploadTooLarge = errors.New("the model is larger than the upload limit")

// capped fails once more than n bytes were read.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errUploadTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errUploadTooLarge
	}
	return n, err
}

// upload streams a model file into the raw bucket, in the case folder of
// the typed reference, under a name the console makes (the file's own
// name may carry identifiers; only its extension is kept). The form's
// fields come first: csrf, case_id, ref, then the file.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "the upload could not be read", http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	vals := map[string]string{}
	back := "/lab"
	fail := func(status int, outcome, msg string) {
		s.audit.record(r, sess.user, "upload", outcome, fields)
		if outcome == "csrf" {
			http.Error(w, msg, status)
			return
		}
		sess.flash = msg
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			fail(http.StatusBadRequest, "no_file", "Choose a model file (STL, 3MF or OBJ) to upload.")
			return
		}
		if err != nil {
			fail(http.StatusBadRequest, "unreadable", "The upload could not be read.")
			return
		}
		name := part.FormName()
		if name != "file" {
			b, err := io.ReadAll(io.LimitReader(part, 4<<10))
			part.Close()
			if err != nil {
				fail(http.StatusBadRequest, "unreadable", "The upload could not be read.")
				return
			}
			vals[name] = string(b)
			if name == "case_id" && registry.IsCaseID(vals[name]) {
				back = "/cases/" + vals[name] + "/lab"
				fields["case_id"] = vals[name]
			}
			continue
		}
		if !checkCSRF(sess, vals["csrf"]) {
			s.audit.record(r, sess.user, "csrf", "refused", map[string]string{"check": "token"})
			http.Error(w, "the form's security token is missing or out of date: reload the page and try again", http.StatusForbidden)
			return
		}
		caseID := ""
		if registry.IsCaseID(vals["case_id"]) {
			caseID = vals["case_id"]
		}
		ref := cleanRef(vals["ref"])
		delete(vals, "ref")
		id, refErr := s.checkRef(r.Context(), ref, caseID)
		if refErr != "" {
			fields["reference"] = "refused"
			fail(http.StatusUnprocessableEntity, "invalid", refErr)
			return
		}
		ext := strings.ToLower(path.Ext(part.FileName()))
		if ext != ".stl" && ext != ".3mf" && ext != ".obj" {
			fail(http.StatusUnprocessableEntity, "unsupported", "Only STL, 3MF and OBJ model files can be uploaded here.")
			return
		}
		fields["case_id"], fields["format"] = id, ext[1:]
		n, err := s.putModel(r.Context(), s.cfg.ModelsPrefix+ref+"/"+modelName()+ext, part)
		ref = ""
		fields["bytes"] = strconv.FormatInt(n, 10)
		switch {
		case errors.Is(err, errUploadTooLarge):
			fail(http.StatusRequestEntityTooLarge, "too_large", "The model is larger than the upload limit ("+formatBytes(s.cfg.MaxUploadBytes)+"); nothing was stored.")
			return
		case err != nil:
			s.log.Warn().Err(err).Str("case_id", id).Msg("model upload failed")
			fail(http.StatusServiceUnavailable, "failed", "The model could not be stored; nothing was kept. Try again.")
			return
		}
		s.audit.record(r, sess.user, "upload", "ok", fields)
		sess.flash = "Model uploaded (" + formatBytes(n) + "). It appears in the case once a worker has measured it."
		target := id
		if caseID != "" {
			target = caseID
		}
		http.Redirect(w, r, "/cases/"+target, http.StatusSeeOther)
		return
	}
}

// putModel streams one part into the raw bucket (size unknown: the store
// holds at most one upload part in memory) and returns its size.
func (s *Server) putModel(ctx context.Context, key string, part *multipart.Part) (int64, error) {
	defer part.Close()
	c := &capped{r: part, left: s.cfg.MaxUploadBytes}
	ctype := map[string]string{".stl": "model/stl", ".3mf": "model/3mf", ".obj": "model/obj"}[strings.ToLower(path.Ext(key))]
	info, err := s.deps.Raw.Put(ctx, key, c, -1, objstore.PutOptions{ContentType: ctype})
	if err != nil {
		if c.left < 0 {
			return s.cfg.MaxUploadBytes - c.left, errUploadTooLarge
		}
		return 0, err
	}
	return info.Size, nil
}

// modelName is the name an uploaded model is stored under.
func modelName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "console-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// formField is one input of the lab form, described for the template so
// that every input gets its label, its HTML constraints and its error.
type formField struct {
	ID, Name, Label, Value string
	// Kind is text, textarea, select or number.
	Kind     string
	Options  []string
	MaxLen   int
	Pattern  string
	Min, Max string
	Step     string
	Required bool
	Help     string
	Err      string
	Wide     bool
}

type formGroup struct {
	Legend string
	Fields []formField
	// Spare: an empty row after the first empty one of its section.
	Spare bool
}

type formSection struct {
	ID, Title, Help string
	// Add labels the button that shows the next spare row.
	Add    string
	Groups []formGroup
}

const (
	icdPattern     = `[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?([,; ]+[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?)*`
	refsPattern    = `[0-9]{1,2}([, ]+[0-9]{1,2})*`
	minutesPattern = `[0-9]{1,5}|unknown`
)

func (f *labForm) field(path, name, label, value, kind string) formField {
	return formField{ID: fieldID(path), Name: name, Label: label, Value: value, Kind: kind, Err: f.fieldErrors[path]}
}

func (f *labForm) text(path, name, label, value string, max int) formField {
	ff := f.field(path, name, label, value, "text")
	ff.MaxLen = max
	if max > shortTextBytes {
		ff.Kind, ff.Wide = "textarea", true
	}
	return ff
}

func (f *labForm) choice(path, name, label, value string, options []string) formField {
	ff := f.field(path, name, label, value, "select")
	ff.Options = options
	return ff
}

func (f *labForm) number(path, name, label, value, min, max, step string) formField {
	ff := f.field(path, name, label, value, "number")
	ff.Min, ff.Max, ff.Step = min, max, step
	return ff
}

// Text limits of case.json, in bytes (the form's maxlength counts
// characters, a little more lenient; the server checks bytes).
const (
	shortTextBytes = 64
	longTextBytes  = 500
)

// Sections describes the whole form.
func (f *labForm) Sections() []formSection {
	e := f.Enums
	var out []formSection

	ot := f.choice("object_type", "object_type", "Object type", f.ObjectType, e.ObjectTypes)
	ot.Required = true
	out = append(out, formSection{ID: "order", Title: "The order", Groups: []formGroup{{Fields: []formField{
		ot,
		f.choice("intended_use", "intended_use", "Intended use", f.IntendedUse, e.IntendedUses),
		f.text("intended_use_text", "intended_use_text", "Intended use, in words (optional)", f.IntendedUseText, longTextBytes),
		f.choice("ordering_service", "ordering_service", "Ordering service", f.OrderingService, e.OrderingServices),
		f.text("ordering_service_text", "ordering_service_text", "Ordering service, when other", f.OrderingServiceText, shortTextBytes),
	}}}})

	ind := formSection{ID: "indications", Title: "Indications", Add: "Add an indication", Help: "Free text and/or ICD-10-CM codes (capitals, e.g. C64.1; several separated by commas). No names, dates or record numbers."}
	for i, r := range f.Indications {
		p := fmt.Sprintf("indications[%d]", i)
		n := fmt.Sprintf("indications.%d.", i)
		icd := f.field(p+".icd10cm", n+"icd10cm", fmt.Sprintf("Indication %d: ICD-10-CM codes", i+1), r.ICD, "text")
		icd.Pattern, icd.MaxLen = icdPattern, 120
		ind.Groups = append(ind.Groups, formGroup{Legend: fmt.Sprintf("Indication %d", i+1), Spare: i > f.filled[0], Fields: []formField{
			f.text(p+".text", n+"text", fmt.Sprintf("Indication %d: text", i+1), r.Text, longTextBytes), icd,
		}})
	}
	out = append(out, ind)

	parts := formSection{ID: "parts", Title: "Anatomic parts", Add: "Add a part", Help: "Models: one row per component, dominant part first (each is one CPT component). Region and structure are needed; empty rows are left out and the rest numbered from 1."}
	for i, r := range f.Parts {
		p := fmt.Sprintf("parts[%d]", i)
		n := fmt.Sprintf("parts.%d.", i)
		parts.Groups = append(parts.Groups, formGroup{Legend: fmt.Sprintf("Part %d", i+1), Spare: i > f.filled[1], Fields: []formField{
			f.text(p+".region", n+"region", fmt.Sprintf("Part %d: region", i+1), r.Region, shortTextBytes),
			f.text(p+".subregion", n+"subregion", fmt.Sprintf("Part %d: subregion", i+1), r.Subregion, shortTextBytes),
			f.text(p+".structure", n+"structure", fmt.Sprintf("Part %d: structure", i+1), r.Structure, shortTextBytes),
			f.choice(p+".laterality", n+"laterality", fmt.Sprintf("Part %d: laterality", i+1), r.Laterality, e.Lateralities),
			f.text(p+".comment", n+"comment", fmt.Sprintf("Part %d: comment", i+1), r.Comment, longTextBytes),
		}})
	}
	out = append(out, parts)

	guides := formSection{ID: "guides", Title: "Guides", Add: "Add a guide", Help: "Only for anatomic guides: one row per guide."}
	for i, r := range f.Guides {
		p := fmt.Sprintf("guides[%d]", i)
		n := fmt.Sprintf("guides.%d.", i)
		guides.Groups = append(guides.Groups, formGroup{Legend: fmt.Sprintf("Guide %d", i+1), Spare: i > f.filled[2], Fields: []formField{
			f.choice(p+".type", n+"type", fmt.Sprintf("Guide %d: type", i+1), r.Type, e.GuideTypes),
			f.text(p+".comment", n+"comment", fmt.Sprintf("Guide %d: comment", i+1), r.Comment, longTextBytes),
		}})
	}
	out = append(out, guides)

	prints := formSection{ID: "prints", Title: "Prints", Add: "Add a print", Help: "One set of parts on one printer at one scale in one material; copies of one print are not separate prints."}
	for i, r := range f.Prints {
		p := fmt.Sprintf("prints[%d]", i)
		n := fmt.Sprintf("prints.%d.", i)
		l := func(s string) string { return fmt.Sprintf("Print %d: %s", i+1, s) }
		pp := f.field(p+".parts", n+"parts", l("part numbers"), r.Parts, "text")
		pp.Pattern, pp.MaxLen, pp.Help = refsPattern, 80, "e.g. 1, 2, 3"
		pg := f.field(p+".guides", n+"guides", l("guide numbers"), r.Guides, "text")
		pg.Pattern, pg.MaxLen = refsPattern, 80
		prints.Groups = append(prints.Groups, formGroup{Legend: fmt.Sprintf("Print %d", i+1), Spare: i > f.filled[3], Fields: []formField{
			pp, pg,
			f.text(p+".printer.label", n+"label", l("printer label"), r.Label, shortTextBytes),
			f.text(p+".printer.manufacturer", n+"manufacturer", l("printer manufacturer"), r.Manufacturer, shortTextBytes),
			f.text(p+".printer.model", n+"model", l("printer model"), r.Model, shortTextBytes),
			f.choice(p+".printer.technology", n+"technology", l("technology (ISO/ASTM 52900)"), r.Technology, e.Technologies),
			f.text(p+".material", n+"material", l("material"), r.Material, shortTextBytes),
			f.number(p+".scale", n+"scale", l("scale (1 = life size)"), r.Scale, "0.01", "10", "any"),
			f.choice(p+".optical", n+"optical", l("optical"), r.Optical, e.Opticals),
			f.number(p+".copies", n+"copies", l("copies"), r.Copies, "1", "100", "1"),
		}})
	}
	out = append(out, prints)

	effort := formSection{ID: "effort", Title: "Effort", Help: "The registry's eight timers, in minutes, or unknown. Clinician: MD, DO, DDS, PA, NP…; non-clinician: engineers, technologists, scientists. All eight once one is given."}
	for _, r := range f.Effort {
		pc, pn := "effort."+r.Key+".clinician", "effort."+r.Key+".non_clinician"
		c := f.field(pc, pc, r.Label+": clinician minutes", r.Clinician, "text")
		nc := f.field(pn, pn, r.Label+": non-clinician minutes", r.NonClinician, "text")
		c.Pattern, c.MaxLen, nc.Pattern, nc.MaxLen = minutesPattern, 7, minutesPattern, 7
		effort.Groups = append(effort.Groups, formGroup{Legend: r.Label, Fields: []formField{c, nc}})
	}
	out = append(out, effort)

	out = append(out, formSection{ID: "after", Title: "After the procedure (optional)", Groups: []formGroup{{Fields: []formField{
		f.choice("procedure.used", "procedure.used", "Was the object used in the procedure?", f.ProcedureUsed, e.ProcedureUses),
		f.text("procedure.comment", "procedure.comment", "Procedure comment", f.ProcedureComment, longTextBytes),
		f.number("assessment.confidence_before", "assessment.confidence_before", "Confidence before seeing the object (1–5)", f.ConfidenceBefore, "1", "5", "1"),
		f.number("assessment.confidence_after", "assessment.confidence_after", "Confidence after (1–5)", f.ConfidenceAfter, "1", "5", "1"),
		f.number("assessment.time_saved_minutes", "assessment.time_saved_minutes", "Procedure time saved, minutes (negative: added)", f.TimeSaved, "-1440", "1440", "1"),
		f.text("assessment.comment", "assessment.comment", "Assessment comment", f.AssessmentComment, longTextBytes),
	}}}})
	return out
}

// IssueLinks pairs each issue with the id of its input (or "" when the
// issue is about the whole document).
func (f *labForm) IssueLinks() []struct{ ID, Field, Message string } {
	var out []struct{ ID, Field, Message string }
	for _, is := range f.Issues {
		id := ""
		if is.Field != "" && is.Field != "(document)" {
			id = fieldID(is.Field)
		}
		out = append(out, struct{ ID, Field, Message string }{id, is.Field, is.Message})
	}
	return out
}

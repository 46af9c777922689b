package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/printreg/printreg/pkg/registry"
)

// exportColumns are the export's columns, one row per registry-ready
// case, in the order of the registry's data form as the case snapshot
// carries it: the case, imaging, segmentation, the digital model and its
// files, the lab's order (object type, use, service, indications, parts,
// guides), printing, effort, the procedure and assessment, then the CPT
// suggestion. Every value is a published, de-identified fact.
var exportColumns = []string{
	"case_id", "version",
	"studies", "series", "instances", "modalities", "slice_thickness_mm", "slice_spacing_mm", "thin_slice",
	"segmentations", "segments", "segment_types",
	"models", "model_formats", "triangles", "volume_mm3", "surface_area_mm2", "watertight",
	"object_type", "intended_use", "intended_use_text", "ordering_service", "ordering_service_text",
	"indications", "icd10cm", "parts", "guides",
	"prints", "printer_technologies", "printers", "materials", "copies",
	"effort_consultation_clinician", "effort_consultation_non_clinician",
	"effort_segmentation_clinician", "effort_segmentation_non_clinician",
	"effort_cad_clinician", "effort_cad_non_clinician",
	"effort_post_processing_clinician", "effort_post_processing_non_clinician",
	"clinician_minutes", "non_clinician_minutes", "unknown_timers",
	"procedure_used", "confidence_before", "confidence_after", "time_saved_minutes",
	"cpt_codes", "cpt_basis",
}

// exportRow is one case's values, aligned with exportColumns: strings,
// numbers, booleans, lists of strings or nil (unknown).
func exportRow(s *registry.Snapshot) []any {
	row := make([]any, 0, len(exportColumns))
	add := func(v ...any) { row = append(row, v...) }
	add(s.CaseID, s.Version)

	var modalities []string
	thick, spacing := math.Inf(1), math.Inf(1)
	thin := false
	for _, st := range s.Studies {
		for _, m := range st.Modalities {
			if !slices.Contains(modalities, m) {
				modalities = append(modalities, m)
			}
		}
		for _, se := range st.Series {
			if se.SliceThicknessMM > 0 {
				thick = math.Min(thick, se.SliceThicknessMM)
			}
			if se.SliceSpacingMM > 0 {
				spacing = math.Min(spacing, se.SliceSpacingMM)
			}
			thin = thin || se.ThinSlice
		}
	}
	add(s.Counts.Studies, s.Counts.Series, s.Counts.Instances, modalities, finiteOrNil(thick), finiteOrNil(spacing), thin)

	segments := 0
	var types []string
	for _, sg := range s.Segmentations {
		segments += len(sg.Segments)
		for _, seg := range sg.Segments {
			if seg.Type == nil {
				continue
			}
			t := seg.Type.Scheme + ":" + seg.Type.Code
			if seg.Type.Meaning != "" {
				t += " " + seg.Type.Meaning
			}
			if seg.Laterality != "" {
				t += " (" + seg.Laterality + ")"
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	add(s.Counts.Segmentations, segments, types)

	var formats []string
	var tri int64
	var vol, area float64
	watertight := len(s.Models) > 0
	for _, m := range s.Models {
		f := m.Format
		if m.Container != "" {
			f += " (" + m.Container + ")"
		}
		if !slices.Contains(formats, f) {
			formats = append(formats, f)
		}
		tri += m.Triangles
		vol += m.VolumeMM3
		area += m.SurfaceAreaMM2
		watertight = watertight && m.Watertight
	}
	add(len(s.Models), formats, tri, round3(vol), round3(area), watertight)

	lab := s.Lab
	if lab == nil {
		lab = &registry.LabSnapshot{}
	}
	add(orNil(lab.ObjectType), orNil(lab.IntendedUse), orNil(lab.IntendedUseText), orNil(lab.OrderingService), orNil(lab.OrderingServiceText))
	var indications, codes, parts, guides []string
	for _, in := range lab.Indications {
		if in.Text != "" {
			indications = append(indications, in.Text)
		}
		codes = append(codes, in.ICD10CM...)
	}
	for _, p := range lab.Parts {
		parts = append(parts, joinNonEmpty(" / ", p.Region, p.Subregion, p.Structure, p.Laterality))
	}
	for _, g := range lab.Guides {
		guides = append(guides, g.Type)
	}
	add(indications, codes, parts, guides)

	var techs, printers, materials []string
	copies := 0
	for _, p := range lab.Prints {
		if p.Printer.Technology != "" && !slices.Contains(techs, p.Printer.Technology) {
			techs = append(techs, p.Printer.Technology)
		}
		if pr := joinNonEmpty(" ", p.Printer.Manufacturer, p.Printer.Model); pr != "" {
			printers = append(printers, pr)
		} else if p.Printer.Label != "" {
			printers = append(printers, p.Printer.Label)
		}
		if p.Material != "" {
			materials = append(materials, p.Material)
		}
		c := p.Copies
		if c == 0 {
			c = 1
		}
		copies += c
	}
	add(len(lab.Prints), techs, printers, materials, copies)

	if e := lab.Effort; e != nil {
		for _, sm := range []registry.StaffMinutes{e.Consultation, e.Segmentation, e.CAD, e.PostProcessing} {
			add(minutes(sm.Clinician), minutes(sm.NonClinician))
		}
	} else {
		for range 8 {
			add(nil)
		}
	}
	if t := lab.EffortTotals; t != nil {
		add(t.ClinicianMinutes, t.NonClinicianMinutes, t.UnknownTimers)
	} else {
		add(nil, nil, nil)
	}
	used := any(nil)
	if lab.Procedure != nil {
		used = lab.Procedure.Used
	}
	var before, after, saved any
	if a := lab.Assessment; a != nil {
		if a.ConfidenceBefore > 0 {
			before = a.ConfidenceBefore
		}
		if a.ConfidenceAfter > 0 {
			after = a.ConfidenceAfter
		}
		if a.TimeSavedMinutes != nil {
			saved = *a.TimeSavedMinutes
		}
	}
	add(used, before, after, saved)

	var cpt []string
	for _, c := range s.CPT.Codes {
		cpt = append(cpt, fmt.Sprintf("%s x%d", c.Code, c.Units))
	}
	add(cpt, orNil(s.CPT.Basis))
	return row
}

func minutes(m registry.Minutes) any {
	if m.Unknown {
		return "unknown"
	}
	return m.Value
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func finiteOrNil(f float64) any {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return f
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// csvCell renders a value for CSV; lists are joined with "; ", and text a
// spreadsheet would take for a formula is prefixed with an apostrophe.
func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	case []string:
		return csvCell(strings.Join(x, "; "))
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// readySnapshots calls fn with the snapshot of every registry-ready case,
// in case id order, reading each case's last event.
func (s *Server) readySnapshots(ctx context.Context, fn func(*registry.Snapshot) error) (int, error) {
	n := 0
	for _, id := range s.index.ready() {
		ev, err := s.lastEvent(ctx, id)
		if err != nil {
			return n, err
		}
		if ev == nil || !ev.Data.Case.RegistryReady || ev.Data.Case.MergedInto != "" {
			continue
		}
		if err := fn(&ev.Data.Case); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

type exportData struct {
	Ready   int
	Columns []string
	Synced  bool
}

func (s *Server) exportPage(w http.ResponseWriter, r *http.Request, sess *session) {
	_, _, synced, _ := s.index.list(listFilter{})
	s.render(w, http.StatusOK, "export", sess, view{Title: "Export", Nav: "export", Data: exportData{Ready: len(s.index.ready()), Columns: exportColumns, Synced: synced}})
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="printreg-ready-cases.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(exportColumns)
	n, err := s.readySnapshots(r.Context(), func(snap *registry.Snapshot) error {
		row := exportRow(snap)
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = csvCell(v)
		}
		return cw.Write(cells)
	})
	cw.Flush()
	s.auditExport(r, sess, "csv", n, err)
}

func (s *Server) exportNDJSON(w http.ResponseWriter, r *http.Request, sess *session) {
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="printreg-ready-cases.ndjson"`)
	var buf bytes.Buffer
	n, err := s.readySnapshots(r.Context(), func(snap *registry.Snapshot) error {
		buf.Reset()
		buf.WriteByte('{')
		for i, v := range exportRow(snap) {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(exportColumns[i])
			buf.Write(k)
			buf.WriteByte(':')
			if l, ok := v.([]string); ok && l == nil {
				v = []string{}
			}
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			buf.Write(b)
		}
		buf.WriteString("}\n")
		_, err := w.Write(buf.Bytes())
		return err
	})
	s.auditExport(r, sess, "ndjson", n, err)
}

func (s *Server) auditExport(r *http.Request, sess *session, format string, n int, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
		s.log.Warn().Err(err).Msg("export stopped")
	}
	s.audit.record(r, sess.user, "export", outcome, map[string]string{"format": format, "rows": strconv.Itoa(n)})
}

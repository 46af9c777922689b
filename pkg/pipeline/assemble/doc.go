// Package assemble is the worker's domain step: it turns one raw object into
// de-identified outputs and registry facts, and merges facts into cases.
//
// A DICOM object is de-identified (pkg/deid) in one streaming pass into a
// spool, written to the de-identified bucket under
// <case_id>/<study>/<series>/<sop>.dcm, and its facts are read back from the
// de-identified header (pkg/dicomx), so nothing published can come from a
// value de-identification removed. The raw identifiers needed to link the
// object to its case (accession, StudyInstanceUID) and to screen free text
// (names, IDs, birth date) are read from the raw header in memory and leave
// the worker only as keyed hashes (casemodel.IdentityFact).
//
// An image adds one record of its geometry to the series bucket (one record
// per instance, so its cost does not grow with the series) and a provisional
// summary to its case; when the study is due to become stable the sweep asks
// Settle, which reads the series' records once and merges the exact summary
// — counts, spacing computed from positions, extent, flags. Deleted files
// are taken out again (Retract). The stores — the worker's case store, the
// series and alias buckets (Buckets, Setup) — are given to New; the pipeline
// knows nothing of them. A model file (STL, 3MF,
// OBJ) is measured (pkg/mesh), sanitised and written under
// <case_id>/models/; a case.json is validated (casemodel.ParseSidecar).
//
// Models and sidecars name their case by folder (<case-ref>/…). A study
// answers to its accession and to its StudyInstanceUID; the accession's case
// id is the case, and the other is recorded as an alias that points to it.
// A case a lab opened under the StudyInstanceUID before the study arrived is
// retired into the study's case and merged (casemodel.Retire, Merge).
package assemble

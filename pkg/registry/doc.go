// Package registry is the versioned wire format that registry consumers
// read: one self-describing, PHI-free record per case that says what was
// imaged, segmented and printed, what the lab reported, what to bill and
// what is still missing.
//
// It holds only what a consumer needs: the CloudEvent envelope and its data
// (Snapshot, the whole current case, and Change, what the event changed),
// the event types and change kinds, the vocabularies the snapshot's fields
// use (study status, requirements, reason codes, screening rules), the
// deterministic EventID, the NATS Subject of a case and the embedded JSON
// Schemas (Schemas) of the event data, which dataschema names, and of the
// lab's case.json.
// It depends on the standard library only.
//
// A consumer decodes each message of the registry stream into a CloudEvent
// and keeps, per case, the snapshot with the highest version (see the
// examples); docs/registry-events.md describes every field.
//
// The rules that build these records (merging facts into cases, study
// completeness, screening and sealing free text, case.json validation) are
// the producer's, in package casemodel beside this one.
package registry

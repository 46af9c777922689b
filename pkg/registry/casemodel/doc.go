// Package casemodel is printreg's case model: the rules that turn what the
// pipeline reads into the records of the registry wire format (package
// registry, which it imports for the snapshot, change and event types). A
// registry consumer does not need it.
//
// The package is the pure domain layer. It knows nothing of NATS or S3 and does
// not parse DICOM or meshes; the pipeline maps extraction results onto the fact
// types defined here (SeriesFact, SegmentationFact, ModelFact, SidecarFact,
// RejectedFact, IdentityFact, and ResolutionFact for an operator's decision about
// a study in conflict) and stores the case state this package encodes. It also
// reads and validates the lab's case.json (ParseSidecar), derives case ids
// from the site secret (CaseID, StudyAliases) and screens free text
// (Screener).
//
// The life of a case:
//
//	r, _ := casemodel.New(cfg, key)          // once per process
//	c, _ := casemodel.Decode(kvValue)         // or casemodel.NewCase(caseID)
//	ch, changed := r.Apply(c, fact, now)      // merge one fact
//	b, _ := c.Encode()                        // compare-and-set back into KV
//	ev, id, _ := r.Event(c, ch)               // publish, Nats-Msg-Id = id
//
// and, on a timer in any worker, r.Tick(c, now) for study completeness.
//
// Merging is a join: every piece of state is a set union or a maximum under a
// total order, so the same facts in any order and any number of times give
// the same case. Free text never leaves unscreened: it is sealed (encrypted
// under a key derived from the site secret) in the stored state and screened
// against the case's hashed identifiers each time a snapshot is built.
package casemodel

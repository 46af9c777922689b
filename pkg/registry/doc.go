// Package registry is printreg's case model and the versioned wire format that
// registry consumers read: one self-describing, PHI-free record per case that
// says what was imaged, segmented and printed, what the lab reported, what to
// bill and what is still missing.
//
// The package is the pure domain layer. It knows nothing of NATS or S3 and does
// not parse DICOM or meshes; the pipeline maps extraction results onto the fact
// types defined here (SeriesFact, SegmentationFact, ModelFact, SidecarFact,
// RejectedFact, IdentityFact, and ResolutionFact for an operator's decision about
// a study in conflict) and stores the case state this package encodes.
//
// The life of a case:
//
//	r, _ := registry.New(cfg, key)           // once per process
//	c, _ := registry.Decode(kvValue)          // or registry.NewCase(caseID)
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
package registry

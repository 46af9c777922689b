// Package pipeline moves objects from S3-compatible buckets through the
// domain code and into registry case events on NATS JetStream.
//
// Data flow (one object, one worker, one pass):
//
//	bucket notification ─┐
//	ingest scan / inbox ─┴▶ stream PRINTREG_OBJECTS (work queue, one durable pull consumer)
//	                         │
//	  Worker: marker check → Stat (size cap) → Processor.Process(open) → outputs to the deid bucket
//	          → CaseStore.Update (KV PRINTREG_CASES, compare-and-set, outbox)
//	          → publish events on registry.case.<case_id> (Nats-Msg-Id = event id)
//	          → the object's marker (KV PRINTREG_PROCESSED) → ack, last
//	  permanent failure → copy to PRINTREG_DLQ (reason, hashed object id) → Term
//	  transient failure → NakWithDelay with backoff; the last delivery goes to the DLQ
//
// Guarantees. A crash at any point means redelivery, never loss: the work item
// is acknowledged only after the outputs, the case state, the events and the
// object's marker are durable. Redelivery means no double counting: an
// object version is identified by (bucket, key, ETag, version); the object's
// marker names the last version handled, which makes a repeat of it a no-op
// (one record per object, read while the object is opened); case merges are joins, so re-applying facts changes nothing;
// events carry deterministic ids that JetStream deduplicates. An event whose
// case state was stored but that was not yet published sits in the case's
// outbox and is published by the next writer of the case (the redelivered
// object, or the timer sweep).
//
// Failover. On a JetStream cluster a request may go unanswered while a
// leader is elected; every NATS request a worker makes has a deadline of its
// own (WorkerConfig.RequestTimeout) and is repeated while that is safe (see
// WithRequestTimeout), so a leader change costs seconds, not the object
// timeout. Start-up waits for the cluster; a worker whose slots are all held
// while work waits says so (Worker.Ready, a warning).
//
// Seams for the domain code (kept small on purpose):
//   - [Processor] turns one raw object into outputs, opaque facts and a case id.
//   - [CaseModel] merges opaque facts into opaque case state and fires its
//     timers, returning the events to publish.
//   - [Settler] (optional) reads the processor's own stores before a due
//     timer fires and returns facts to merge first.
//   - [Rejecter] (optional) records objects the worker refused by itself.
//   - [Retracter] (optional) takes a deleted object out of its case: a
//     removal (a MinIO object-removed notification, a file gone from the
//     inbox) finds the object marker the object's last handled version left
//     (KV PRINTREG_PROCESSED, key "o."+ObjectID), and the retraction's
//     facts are merged like any result; the marker is then deleted, so
//     the same file dropped again is processed anew.
//
// The processor's own stores are its business: the pipeline declares only
// its streams and its case, timer and marker buckets ([Setup]); a
// processor that shares the worker's case store is given the same
// [CaseStore] (Deps.Cases).
//
// Nothing in this package logs or returns raw object keys, which come from
// hospitals and may hold names or record numbers: logs carry keyed hashes
// (see [ObjectID]).
package pipeline

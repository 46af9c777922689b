package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// CloudEvents types. A breaking change to data bumps the version suffix;
// additive ones keep it (see docs/registry-events.md).
const (
	TypeCaseUpdated    = "org.printreg.case.updated.v1"
	TypeStudyStable    = "org.printreg.study.stable.v1"
	TypeStudyAmended   = "org.printreg.study.amended.v1"
	TypeObjectRejected = "org.printreg.object.rejected.v1"
	TypeCaseMerged     = "org.printreg.case.merged.v1"
)

// ContentType is the media type of a structured-mode CloudEvent; publish it
// as the NATS Content-Type header.
const ContentType = "application/cloudevents+json; charset=utf-8"

// EventType maps a change kind to its CloudEvents type.
func EventType(kind string) string {
	switch kind {
	case KindStudyStable:
		return TypeStudyStable
	case KindStudyAmended:
		return TypeStudyAmended
	case KindObjectRejected:
		return TypeObjectRejected
	case KindCaseMerged, KindCaseRetired:
		return TypeCaseMerged
	}
	return TypeCaseUpdated
}

// CloudEvent is the structured-mode JSON envelope of a case event.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            string    `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema"`
	Data            EventData `json:"data"`
}

// EventData is data of every case event: the whole current case and what
// this event changed.
type EventData struct {
	Case   Snapshot `json:"case"`
	Change Change   `json:"change"`
}

// EventID is the deterministic id of the event for change ch of case
// caseID: processing the same object again yields the same id, so it is
// also the Nats-Msg-Id and JetStream drops the repeat.
func EventID(caseID string, ch Change) string {
	h := sha256.New()
	for _, p := range []string{"printreg/registry/event/v1", caseID, strconv.FormatUint(ch.Version, 10), ch.Kind,
		ch.Object, strings.Join(ch.StudyUIDs, ","), ch.SeriesUID, ch.MergedFrom, ch.MergedInto} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Package s3event parses S3 bucket event notifications as AWS S3 and MinIO
// send them: one JSON document with a Records array (possibly several
// records), each naming a bucket and an object.
//
// The differences the parser absorbs (AWS "Event notification content
// structure"; MinIO internal/event): MinIO adds top-level EventName and Key
// beside Records and prefixes eventName with "s3:"; AWS does not. Object keys
// are form-URL-encoded in both ("+" is a space, "%2F" a slash) and must be
// decoded before use. An AWS test event (Event "s3:TestEvent", no Records)
// parses to no records.
package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/objstore"
)

// Limits on one notification message: NATS's default maximum payload, and
// far more records than any producer sends in one message.
const (
	MaxMessageBytes = 1 << 20
	MaxRecords      = 1000
)

// ErrMalformed wraps every parse failure: the message can never be parsed,
// so it is a permanent failure.
var ErrMalformed = errors.New("malformed S3 event notification")

// Record is one object event.
type Record struct {
	// EventName without the "s3:" prefix, e.g. "ObjectCreated:Put".
	EventName string
	// EventSource is "aws:s3" or "minio:s3".
	EventSource string
	// EventTime is when the service finished the request (zero if absent).
	EventTime time.Time
	// Bucket is the bucket name.
	Bucket string
	// Key is the decoded object key. It may hold identifiers: never log it.
	Key string
	// Size is the object size (0 for removals).
	Size int64
	// ETag without quotes.
	ETag string
	// VersionID when the bucket is versioned.
	VersionID string
	// Sequencer orders events for the same key (S3: compare as hex strings,
	// the shorter left-padded with zeros).
	Sequencer string
}

// Created reports whether the record announces a new object version.
func (r Record) Created() bool { return strings.HasPrefix(r.EventName, "ObjectCreated:") }

// Removed reports whether the record announces a deletion.
func (r Record) Removed() bool { return strings.HasPrefix(r.EventName, "ObjectRemoved:") }

// Envelope is a notification message decoded in one pass. Embedded in a
// struct with the fields of another message shape, it lets one
// json.Unmarshal read either (a queue carrying notifications beside
// messages of its own): IsNotification tells which it was.
type Envelope struct {
	// Raw is the Records member: nil when absent (or null).
	Raw *[]RawRecord `json:"Records"`
	// Event is "s3:TestEvent" in an AWS test event.
	Event string `json:"Event"`
	// MinIO's top-level EventName and Key are informative only (bucket and
	// key come from each record) and not decoded.
}

// IsNotification reports whether the decoded message was a notification:
// it had Records, or it was a test event.
func (e *Envelope) IsNotification() bool {
	return e.Raw != nil || e.Event == "s3:TestEvent"
}

// Records checks and returns the records of a decoded notification (none
// for a test event). Errors wrap ErrMalformed and never quote keys.
func (e *Envelope) Records() ([]Record, error) {
	var raw []RawRecord
	if e.Raw != nil {
		raw = *e.Raw
	}
	if len(raw) == 0 {
		if e.Event == "s3:TestEvent" {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: no Records", ErrMalformed)
	}
	if len(raw) > MaxRecords {
		return nil, fmt.Errorf("%w: %d records, limit %d", ErrMalformed, len(raw), MaxRecords)
	}
	out := make([]Record, 0, len(raw))
	for i, rr := range raw {
		r, err := rr.record()
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %s", ErrMalformed, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// RawRecord is one record as sent; Envelope.Records checks it.
type RawRecord struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	S3           struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string      `json:"key"`
			Size      json.Number `json:"size"`
			ETag      string      `json:"eTag"`
			VersionID string      `json:"versionId"`
			Sequencer string      `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// IsNotification reports, cheaply, whether b looks like an S3 event
// notification (a JSON object with a Records or Event member) rather than
// another message on the same stream.
func IsNotification(b []byte) bool {
	var probe struct {
		Records json.RawMessage `json:"Records"`
		Event   string          `json:"Event"`
	}
	if json.Unmarshal(b, &probe) != nil {
		return false
	}
	return len(probe.Records) > 0 || probe.Event == "s3:TestEvent"
}

// Parse returns the records of one notification message. Errors wrap
// ErrMalformed and never quote keys.
func Parse(b []byte) ([]Record, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxMessageBytes)
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, jsonErr(err))
	}
	return env.Records()
}

// jsonErr describes a decoding error without quoting input bytes.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong JSON type (%s)", te.Field, te.Value)
	}
	return "invalid JSON"
}

func (rr RawRecord) record() (Record, error) {
	r := Record{
		EventName:   strings.TrimPrefix(rr.EventName, "s3:"),
		EventSource: rr.EventSource,
		Bucket:      rr.S3.Bucket.Name,
		ETag:        strings.Trim(rr.S3.Object.ETag, `"`),
		VersionID:   rr.S3.Object.VersionID,
		Sequencer:   rr.S3.Object.Sequencer,
	}
	if r.EventName == "" {
		return r, errors.New("no eventName")
	}
	if r.Bucket == "" {
		return r, errors.New("no bucket name")
	}
	if rr.S3.Object.Key == "" {
		return r, errors.New("no object key")
	}
	key, err := url.QueryUnescape(rr.S3.Object.Key)
	if err != nil {
		return r, errors.New("object key is not valid URL encoding")
	}
	if err := objstore.CheckKey(key); err != nil {
		return r, err
	}
	r.Key = key
	if s := rr.S3.Object.Size.String(); s != "" {
		n, err := rr.S3.Object.Size.Int64()
		if err != nil || n < 0 {
			return r, errors.New("object size is not a non-negative integer")
		}
		r.Size = n
	}
	if rr.EventTime != "" {
		t, err := time.Parse(time.RFC3339Nano, rr.EventTime)
		if err != nil {
			return r, errors.New("eventTime is not RFC 3339")
		}
		r.EventTime = t
	}
	if !isHex(r.Sequencer) {
		return r, errors.New("sequencer is not hexadecimal")
	}
	return r, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

package s3event

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file string
		want []Record
	}{
		{"minio-put.json", []Record{{
			EventName: "ObjectCreated:Put", EventSource: "minio:s3",
			EventTime: time.Date(2026, 11, 26, 19, 24, 2, 61e6, time.UTC),
			Bucket:    "lab-drop", Key: "lab drop/DOE+JOHN/ü 100%.dcm", Size: 5,
			ETag: "5d41402abc4b2a76b9719d911017c592", Sequencer: "18EBAEC60BBD05F0",
		}}},
		{"aws-two-records.json", []Record{
			{
				EventName: "ObjectCreated:Put", EventSource: "aws:s3", EventTime: time.Unix(0, 0).UTC(),
				Bucket: "lab-drop", Key: "case 001/model.stl", Size: 1024,
				ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko", Sequencer: "0055AED6DCD90281E5",
			},
			{
				EventName: "ObjectCreated:CompleteMultipartUpload", EventSource: "aws:s3", EventTime: time.Unix(1, 0).UTC(),
				Bucket: "lab-drop", Key: "case 002/scan/series/1.dcm", Size: 52428800,
				ETag: "0a1b2c3d4e5f60718293a4b5c6d7e8f9-10", Sequencer: "55AED6DCD90281E6",
			},
		}},
		{"aws-test-event.json", nil},
		{"minio-delete.json", []Record{{
			EventName: "ObjectRemoved:Delete", EventSource: "minio:s3",
			EventTime: time.Date(2026, 11, 26, 19, 30, 0, 0, time.UTC),
			Bucket:    "lab-drop", Key: "old/file.stl", Sequencer: "18EBAEC60BBD05F1",
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !IsNotification(b) {
				t.Error("IsNotification = false")
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !got[i].EventTime.Equal(tc.want[i].EventTime) {
					t.Errorf("record %d time %v, want %v", i, got[i].EventTime, tc.want[i].EventTime)
				}
				got[i].EventTime, tc.want[i].EventTime = time.Time{}, time.Time{}
				if got[i] != tc.want[i] {
					t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCreatedRemoved(t *testing.T) {
	for _, tc := range []struct {
		name             string
		created, removed bool
	}{
		{"ObjectCreated:Put", true, false},
		{"ObjectCreated:Copy", true, false},
		{"ObjectRemoved:DeleteMarkerCreated", false, true},
		{"ObjectAccessed:Get", false, false},
	} {
		r := Record{EventName: tc.name}
		if r.Created() != tc.created || r.Removed() != tc.removed {
			t.Errorf("%s: Created %v Removed %v", tc.name, r.Created(), r.Removed())
		}
	}
}

func record(key, size, seq string) string {
	return `{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":` + key + `,"size":` + size + `,"sequencer":` + seq + `}}}`
}

func TestParseErrors(t *testing.T) {
	big := `{"Records":[` + strings.Repeat(record(`"k"`, "1", `"1"`)+",", MaxRecords) + record(`"k"`, "1", `"1"`) + `]}`
	tests := []struct{ name, msg string }{
		{"not JSON", `{"Records": [`},
		{"no records", `{"EventName":"s3:ObjectCreated:Put"}`},
		{"empty records", `{"Records":[]}`},
		{"records not an array", `{"Records":{}}`},
		{"no key", `{"Records":[` + record(`""`, "1", `"1"`) + `]}`},
		{"bad escape", `{"Records":[` + record(`"a%zz"`, "1", `"1"`) + `]}`},
		{"NUL in key", `{"Records":[` + record(`"a%00b"`, "1", `"1"`) + `]}`},
		{"negative size", `{"Records":[` + record(`"k"`, "-1", `"1"`) + `]}`},
		{"fractional size", `{"Records":[` + record(`"k"`, "1.5", `"1"`) + `]}`},
		{"non-hex sequencer", `{"Records":[` + record(`"k"`, "1", `"xyz"`) + `]}`},
		{"no bucket", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`},
		{"no event name", `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`},
		{"bad time", `{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"yesterday","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`},
		{"too many records", big},
		{"too large", `{"Records":[` + record(`"`+strings.Repeat("a", MaxMessageBytes)+`"`, "1", `"1"`) + `]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.msg))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestErrorsDoNotQuoteKeys(t *testing.T) {
	msg := `{"Records":[` + record(`"DOE%5EJOHN%zz"`, "1", `"1"`) + `]}`
	_, err := Parse([]byte(msg))
	if err == nil || strings.Contains(err.Error(), "DOE") {
		t.Errorf("error %v quotes the key", err)
	}
	msg = `{"Records":[{"eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"DOE","size":"MRN123"}}}]}`
	_, err = Parse([]byte(msg))
	if err == nil || strings.Contains(err.Error(), "MRN123") {
		t.Errorf("error %v quotes input", err)
	}
}

func TestIsNotification(t *testing.T) {
	for msg, want := range map[string]bool{
		`{"v":1,"bucket":"b","key":"k"}`: false,
		`not json`:                       false,
		`{"Records":[{}]}`:               true,
		`{"Records":[]}`:                 true,
		`{"Event":"s3:TestEvent"}`:       true,
	} {
		if got := IsNotification([]byte(msg)); got != want {
			t.Errorf("IsNotification(%s) = %v, want %v", msg, got, want)
		}
	}
}

// TestKeyRoundTrip checks decoding against the encoding producers use.
func TestKeyRoundTrip(t *testing.T) {
	for _, key := range []string{"a b/c+d", "100%/x", "ü/é ñ", "a%2Fb", "semi;colon&amp=eq?q#h"} {
		enc, _ := json.Marshal(url.QueryEscape(key))
		recs, err := Parse([]byte(`{"Records":[` + record(string(enc), "0", `""`) + `]}`))
		if err != nil {
			t.Fatalf("%q: %v", key, err)
		}
		if recs[0].Key != key {
			t.Errorf("decoded %q, want %q", recs[0].Key, key)
		}
	}
}

package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/sitekey"
)

func TestDecodeWork(t *testing.T) {
	minio, err := os.ReadFile("s3event/testdata/minio-put.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		data     string
		refs     []ObjectRef
		removals []removal
		replay   bool
		ignored  int
		bad      bool
	}{
		{name: "minio notification", data: string(minio), refs: []ObjectRef{{Bucket: "lab-drop", Key: "lab drop/DOE+JOHN/ü 100%.dcm", ETag: "5d41402abc4b2a76b9719d911017c592", Size: 5, Sequencer: "18EBAEC60BBD05F0"}}},
		{name: "work item", data: `{"v":1,"object":{"bucket":"b","key":"k/1","etag":"e","size":3}}`, refs: []ObjectRef{{Bucket: "b", Key: "k/1", ETag: "e", Size: 3}}},
		{name: "replay item", data: `{"v":1,"object":{"bucket":"b","key":"k"},"replay":true}`, refs: []ObjectRef{{Bucket: "b", Key: "k"}}, replay: true},
		{name: "removal kept", data: `{"Records":[{"eventName":"s3:ObjectRemoved:Delete","eventTime":"2026-05-01T10:00:00.5Z","s3":{"bucket":{"name":"b"},"object":{"key":"k","sequencer":"0A"}}}]}`,
			removals: []removal{{Ref: ObjectRef{Bucket: "b", Key: "k", Sequencer: "0A"}, Deleted: time.Date(2026, 5, 1, 10, 0, 0, 5e8, time.UTC)}}},
		{name: "created and removed", data: `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a","eTag":"e"}}},{"eventName":"ObjectRemoved:DeleteMarkerCreated","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			refs: []ObjectRef{{Bucket: "b", Key: "a", ETag: "e"}}, removals: []removal{{Ref: ObjectRef{Bucket: "b", Key: "k"}}}},
		{name: "other event ignored", data: `{"Records":[{"eventName":"s3:ObjectAccessed:Get","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, ignored: 1},
		{name: "removal item", data: `{"v":1,"object":{"bucket":"b","key":"k/1"},"removed":true,"deleted":"2026-05-01T10:00:00Z"}`,
			removals: []removal{{Ref: ObjectRef{Bucket: "b", Key: "k/1"}, Deleted: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}}},
		{name: "replayed removal item", data: `{"v":1,"object":{"bucket":"b","key":"k"},"removed":true,"replay":true}`,
			removals: []removal{{Ref: ObjectRef{Bucket: "b", Key: "k"}}}, replay: true},
		{name: "bad removal key", data: `{"v":1,"object":{"bucket":"b","key":""},"removed":true}`, bad: true},
		{name: "test event ignored", data: `{"Event":"s3:TestEvent","Service":"Amazon S3"}`, ignored: 1},
		{name: "not json", data: `x`, bad: true},
		{name: "unknown version", data: `{"v":2,"object":{"bucket":"b","key":"k"}}`, bad: true},
		{name: "no bucket", data: `{"v":1,"object":{"key":"k"}}`, bad: true},
		{name: "bad key", data: `{"v":1,"object":{"bucket":"b","key":""}}`, bad: true},
		{name: "malformed notification", data: `{"Records":[{"eventName":"x"}]}`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := decodeWork([]byte(tc.data))
			if tc.bad {
				if !errors.Is(err, errBadWork) {
					t.Fatalf("err = %v, want errBadWork", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(w.refs) != fmt.Sprint(tc.refs) || fmt.Sprint(w.removals) != fmt.Sprint(tc.removals) || w.replay != tc.replay || w.ignored != tc.ignored {
				t.Errorf("got %+v, want refs %+v removals %+v replay %v ignored %d", w, tc.refs, tc.removals, tc.replay, tc.ignored)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	if r, ok := ReasonOf(fmt.Errorf("wrapped: %w", Permanent("phi_residue", errors.New("x")))); !ok || r != "phi_residue" {
		t.Errorf("ReasonOf wrapped = %q, %v", r, ok)
	}
	if _, ok := ReasonOf(errors.New("plain")); ok {
		t.Error("plain error is permanent")
	}
	for in, want := range map[string]string{"": ReasonOther, "Bad.Reason": ReasonOther, "ok_reason_2": "ok_reason_2", "x_123456789_123456789_123456789_123": ReasonOther} {
		if r, _ := ReasonOf(Permanent(in, nil)); r != want {
			t.Errorf("reason %q -> %q, want %q", in, r, want)
		}
	}
}

func TestIDsAreKeyedAndStable(t *testing.T) {
	k1, _ := sitekey.New([]byte("0123456789abcdef0123456789abcdef-one"))
	k2, _ := sitekey.New([]byte("0123456789abcdef0123456789abcdef-two"))
	ref := ObjectRef{Bucket: "b", Key: "DOE/1.dcm", ETag: "e1"}
	if ObjectID(k1, "b", "DOE/1.dcm") == ObjectID(k2, "b", "DOE/1.dcm") {
		t.Error("object ids do not depend on the site key")
	}
	if VersionID(k1, ref) == VersionID(k1, ObjectRef{Bucket: "b", Key: "DOE/1.dcm", ETag: "e2"}) {
		t.Error("a new ETag gives the same version id")
	}
	if len(ObjectID(k1, "b", "k")) != 16 || len(VersionID(k1, ref)) != 32 {
		t.Error("unexpected id lengths")
	}
}

func FuzzDecodeWork(f *testing.F) {
	if b, err := os.ReadFile("s3event/testdata/minio-put.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"object":{"bucket":"b","key":"k"}}`))
	f.Add([]byte(`{"Records":[{"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`))
	f.Add([]byte(`{"Records":null,"v":1,"object":{"bucket":"b","key":"k"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := decodeWork(data)
		// One pass reads what telling the shapes apart first reads. (It
		// also reads a work item beside "Records": null, which that
		// rejects as a notification without records.)
		if wa, erra := decodeWorkApart(data); erra == nil && (err != nil || !reflect.DeepEqual(w, wa)) {
			t.Fatalf("one pass: %+v, %v; shapes apart: %+v", w, err, wa)
		}
		if err != nil {
			return
		}
		for _, r := range w.refs {
			if r.Bucket == "" || r.Key == "" {
				t.Fatalf("accepted a reference without bucket or key: %+v", r)
			}
		}
		for _, r := range w.removals {
			if r.Ref.Bucket == "" || r.Ref.Key == "" {
				t.Fatalf("accepted a removal without bucket or key: %+v", r)
			}
		}
	})
}

// TestRemovalRoundTrip: a removal work item decodes as the removal it was
// encoded from, and a replay of it (replayOne's re-marshal) stays one.
func TestRemovalRoundTrip(t *testing.T) {
	ref := ObjectRef{Bucket: "b", Key: "DOE/1.dcm"}
	at := time.Date(2026, 5, 1, 10, 0, 0, 123, time.FixedZone("x", 3600))
	body, err := encodeRemoval(ref, at, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := decodeWork(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.refs) != 0 || len(w.removals) != 1 || w.removals[0].Ref != ref || !w.removals[0].Deleted.Equal(at) {
		t.Fatalf("decoded %+v", w)
	}
	var it workItem
	if err := json.Unmarshal(body, &it); err != nil {
		t.Fatal(err)
	}
	it.Replay = true
	again, _ := json.Marshal(it)
	if w, err := decodeWork(again); err != nil || len(w.removals) != 1 || !w.replay {
		t.Fatalf("replayed removal decoded as %+v, %v", w, err)
	}
	// Items without the new fields are creations, as before.
	if w, err := decodeWork([]byte(`{"v":1,"object":{"bucket":"b","key":"k"}}`)); err != nil || len(w.refs) != 1 || len(w.removals) != 0 {
		t.Fatalf("old item decoded as %+v, %v", w, err)
	}
}

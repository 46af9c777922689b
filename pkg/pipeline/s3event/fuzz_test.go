package s3event

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that no input panics or yields a record that names no
// object, and that parsing is deterministic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc","size":3,"sequencer":"0A"}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Parse(b)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.Bucket == "" || r.Key == "" || r.EventName == "" || r.Size < 0 || !utf8.ValidString(r.Key) {
				t.Fatalf("accepted an incomplete record %+v", r)
			}
		}
		again, err := Parse(b)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("second parse differs: %v", err)
		}
		_ = IsNotification(b)
	})
}

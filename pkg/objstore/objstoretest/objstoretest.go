// Package objstoretest is the behavioural specification every
// objstore.Bucket implementation must meet, run by each implementation's
// tests (the S3 one against a real MinIO).
package objstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/objstore"
)

// Options tunes the suite to an implementation.
type Options struct {
	// LargeBytes is the size of the object used to exercise multipart
	// uploads; set it above the implementation's part size.
	LargeBytes int64
}

// Run runs the suite. newBucket returns an empty bucket for one subtest.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket, opts Options) {
	if opts.LargeBytes == 0 {
		opts.LargeBytes = 6 << 20
	}
	tests := []struct {
		name string
		fn   func(*testing.T, objstore.Bucket)
	}{
		{"missing object is ErrNotFound", testMissing},
		{"put then read back", testRoundTrip},
		{"keys with spaces, plus signs and unicode", testAwkwardKeys},
		{"overwrite changes the ETag", testOverwrite},
		{"unknown size and multipart", func(t *testing.T, b objstore.Bucket) { testLarge(t, b, opts.LargeBytes) }},
		{"short reader leaves no object", testShortReader},
		{"cancelled put leaves no object", testCancelledPut},
		{"list by prefix", testList},
		{"list stops on callback error", testListStop},
		{"delete", testDelete},
		{"invalid keys", testInvalidKeys},
		{"size cap refuses before download", testCap},
		{"open with metadata", testOpenCapped},
		{"concurrent writers never mix", testConcurrentPut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBucket(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) objstore.ObjectInfo {
	t.Helper()
	oi, err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{ContentType: "application/dicom"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return oi
}

func get(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get read: %v", err)
	}
	return data
}

func testMissing(t *testing.T, b objstore.Bucket) {
	c := ctx(t)
	if _, err := b.Stat(c, "no/such/object.dcm"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat missing: err = %v, want ErrNotFound", err)
	}
	if rc, err := b.Get(c, "no/such/object.dcm"); !errors.Is(err, objstore.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get missing: err = %v, want ErrNotFound before the first read", err)
	}
	if ra, err := b.GetAt(c, "no/such/object.dcm"); !errors.Is(err, objstore.ErrNotFound) {
		if ra != nil {
			ra.Close()
		}
		t.Errorf("GetAt missing: err = %v, want ErrNotFound", err)
	}
}

func testRoundTrip(t *testing.T, b objstore.Bucket) {
	data := []byte("DICM-like payload \x00\x01\x02 with binary bytes")
	oi := put(t, b, "case-1/study/series/1.dcm", data)
	if oi.Size != int64(len(data)) || oi.ETag == "" {
		t.Errorf("Put info = %+v, want size %d and an ETag", oi, len(data))
	}
	st, err := b.Stat(ctx(t), "case-1/study/series/1.dcm")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.ETag != oi.ETag || st.Key != "case-1/study/series/1.dcm" {
		t.Errorf("Stat = %+v, want size %d, ETag %q", st, len(data), oi.ETag)
	}
	if got := get(t, b, "case-1/study/series/1.dcm"); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}
	ra, err := b.GetAt(ctx(t), "case-1/study/series/1.dcm")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if ra.Size() != int64(len(data)) {
		t.Errorf("GetAt size = %d, want %d", ra.Size(), len(data))
	}
	for _, r := range [][2]int{{0, 4}, {5, 10}, {len(data) - 3, 3}} {
		p := make([]byte, r[1])
		n, err := ra.ReadAt(p, int64(r[0]))
		if err != nil && !(errors.Is(err, io.EOF) && n == r[1]) {
			t.Fatalf("ReadAt(%d, %d): %v", r[0], r[1], err)
		}
		if !bytes.Equal(p[:n], data[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d, %d) = %q", r[0], r[1], p[:n])
		}
	}
}

func testAwkwardKeys(t *testing.T, b objstore.Bucket) {
	keys := []string{
		"lab drop/DOE JOHN/model 1.stl",
		"a+b/c+d%2F.3mf",
		"unicode/Müller-Lüdenscheidt/é.dcm",
		"percent/100%/x.obj",
		"deep/1/2/3/4/5/6/7/8/9/leaf",
	}
	for i, k := range keys {
		data := fmt.Appendf(nil, "object %d", i)
		put(t, b, k, data)
		if got := get(t, b, k); !bytes.Equal(got, data) {
			t.Errorf("key %d: Get = %q, want %q", i, got, data)
		}
	}
	var listed []string
	if err := b.List(ctx(t), "", func(oi objstore.ObjectInfo) error {
		listed = append(listed, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("List = %q, want %q", listed, want)
	}
}

func testOverwrite(t *testing.T, b objstore.Bucket) {
	a := put(t, b, "x/obj", []byte("version one"))
	c := put(t, b, "x/obj", []byte("version two, longer"))
	if a.ETag == c.ETag {
		t.Errorf("ETag unchanged after overwrite with new content: %q", a.ETag)
	}
	st, err := b.Stat(ctx(t), "x/obj")
	if err != nil {
		t.Fatal(err)
	}
	if st.ETag != c.ETag || st.Size != int64(len("version two, longer")) {
		t.Errorf("Stat after overwrite = %+v, want ETag %q", st, c.ETag)
	}
	d := put(t, b, "y/obj", []byte("version two, longer"))
	if d.ETag != c.ETag {
		t.Errorf("same content, different ETags %q and %q", d.ETag, c.ETag)
	}
}

// pattern is a deterministic, non-repeating-looking byte stream.
type pattern struct {
	r *rand.ChaCha8
}

func (p pattern) Read(b []byte) (int, error) { return p.r.Read(b) }

func newPattern(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return pattern{rand.NewChaCha8(s)}
}

func testLarge(t *testing.T, b objstore.Bucket, size int64) {
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(newPattern(1), size), h)
	// Hide the concrete type so the store cannot learn the size.
	oi, err := b.Put(ctx(t), "large/unknown-size.bin", struct{ io.Reader }{src}, -1, objstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put unknown size: %v", err)
	}
	want := h.Sum(nil)
	if oi.Size != size && oi.Size != 0 {
		t.Errorf("Put size = %d, want %d", oi.Size, size)
	}
	st, err := b.Stat(ctx(t), "large/unknown-size.bin")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("Stat size = %d, want %d", st.Size, size)
	}
	rc, err := b.Get(ctx(t), "large/unknown-size.bin")
	if err != nil {
		t.Fatal(err)
	}
	g := sha256.New()
	n, err := io.Copy(g, rc)
	rc.Close()
	if err != nil || n != size || !bytes.Equal(g.Sum(nil), want) {
		t.Errorf("Get: %d bytes, err %v, hash match %v", n, err, bytes.Equal(g.Sum(nil), want))
	}
	// Known size, also above the part size.
	if _, err := b.Put(ctx(t), "large/known-size.bin", io.LimitReader(newPattern(1), size), size, objstore.PutOptions{}); err != nil {
		t.Fatalf("Put known size: %v", err)
	}
	ra, err := b.GetAt(ctx(t), "large/known-size.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	tail := make([]byte, 1000)
	if _, err := ra.ReadAt(tail, size-1000); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(io.LimitReader(newPattern(1), size))
	if !bytes.Equal(tail, all[size-1000:]) {
		t.Error("ReadAt at the end of a multipart object returned other bytes")
	}
}

func testShortReader(t *testing.T, b objstore.Bucket) {
	_, err := b.Put(ctx(t), "short/obj", bytes.NewReader([]byte("12345")), 10, objstore.PutOptions{})
	if err == nil {
		t.Fatal("Put with a reader shorter than size succeeded")
	}
	if _, err := b.Stat(ctx(t), "short/obj"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("after a failed Put, Stat err = %v, want ErrNotFound", err)
	}
}

// stallReader yields some bytes, then blocks until released.
type stallReader struct {
	sent    bool
	release chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		return copy(p, bytes.Repeat([]byte("x"), 1024)), nil
	}
	<-s.release
	return 0, io.ErrUnexpectedEOF
}

func testCancelledPut(t *testing.T, b objstore.Bucket) {
	c, cancel := context.WithCancel(ctx(t))
	sr := &stallReader{release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := b.Put(c, "cancel/obj", sr, -1, objstore.PutOptions{})
		done <- err
	}()
	cancel()
	close(sr.release)
	if err := <-done; err == nil {
		t.Fatal("Put succeeded after its context was cancelled")
	}
	if _, err := b.Stat(ctx(t), "cancel/obj"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("after a cancelled Put, Stat err = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	keys := []string{"in/a/1.dcm", "in/a/2.dcm", "in/ab/3.dcm", "in/b/4.stl", "other/5.dcm", "in/a"}
	for _, k := range keys[:5] {
		put(t, b, k, []byte(k))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", keys[:5]},
		{"in/", keys[:4]},
		{"in/a", keys[:3]},
		{"in/a/", keys[:2]},
		{"in/b/4", []string{"in/b/4.stl"}},
		{"none/", nil},
		{"in/a/1.dcm", []string{"in/a/1.dcm"}},
	}
	for _, tc := range cases {
		var got []string
		err := b.List(ctx(t), tc.prefix, func(oi objstore.ObjectInfo) error {
			got = append(got, oi.Key)
			if oi.Size != int64(len(oi.Key)) {
				t.Errorf("List(%q): %s has size %d", tc.prefix, oi.Key, oi.Size)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, want)
		}
	}
}

func testListStop(t *testing.T, b objstore.Bucket) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("stop/%d", i), []byte("x"))
	}
	stop := errors.New("enough")
	n := 0
	err := b.List(ctx(t), "stop/", func(objstore.ObjectInfo) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("List returned %v after %d calls, want the callback's error after 2", err, n)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	put(t, b, "del/obj", []byte("x"))
	if err := b.Delete(ctx(t), "del/obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx(t), "del/obj"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx(t), "del/obj"); err != nil {
		t.Errorf("Delete of a missing object: %v, want nil", err)
	}
}

func testInvalidKeys(t *testing.T, b objstore.Bucket) {
	for _, k := range []string{"", "nul\x00byte", string([]byte{0xff, 0xfe}), string(bytes.Repeat([]byte("k"), objstore.MaxKeyBytes+1))} {
		if _, err := b.Put(ctx(t), k, bytes.NewReader(nil), 0, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q): err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Stat(ctx(t), k); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Stat(%q): err = %v, want ErrInvalidKey", k, err)
		}
	}
}

func testCap(t *testing.T, b objstore.Bucket) {
	put(t, b, "cap/big", bytes.Repeat([]byte("z"), 2000))
	if _, err := objstore.StatCapped(ctx(t), b, "cap/big", 1000); !errors.Is(err, objstore.ErrTooLarge) {
		t.Errorf("StatCapped over the cap: %v, want ErrTooLarge", err)
	}
	if oi, err := objstore.StatCapped(ctx(t), b, "cap/big", 2000); err != nil || oi.Size != 2000 {
		t.Errorf("StatCapped at the cap: %+v, %v", oi, err)
	}
}

// testOpenCapped checks OpenCapped, through the store's one-request Open
// where it has one: the metadata agree with Stat, the content is exact, the
// cap and a missing object are reported before anything is read.
func testOpenCapped(t *testing.T, b objstore.Bucket) {
	data := bytes.Repeat([]byte("0123456789"), 300)
	oi := put(t, b, "open/obj", data)
	st, err := b.Stat(ctx(t), "open/obj")
	if err != nil {
		t.Fatal(err)
	}
	for _, max := range []int64{0, int64(len(data))} {
		rc, info, err := objstore.OpenCapped(ctx(t), b, "open/obj", max)
		if err != nil {
			t.Fatalf("OpenCapped(cap %d): %v", max, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("OpenCapped(cap %d) read %d bytes, %v", max, len(got), err)
		}
		if info.Size != st.Size || info.ETag != oi.ETag || info.ETag != st.ETag || !info.ModTime.Equal(st.ModTime) {
			t.Errorf("OpenCapped info = %+v, Stat = %+v", info, st)
		}
	}
	if rc, info, err := objstore.OpenCapped(ctx(t), b, "open/obj", int64(len(data))-1); !errors.Is(err, objstore.ErrTooLarge) || rc != nil || info.Size != int64(len(data)) {
		t.Errorf("OpenCapped over the cap: %v, %v, size %d; want ErrTooLarge, no reader and the size", rc, err, info.Size)
	}
	if rc, _, err := objstore.OpenCapped(ctx(t), b, "open/missing", 0); !errors.Is(err, objstore.ErrNotFound) || rc != nil {
		t.Errorf("OpenCapped missing: %v, want ErrNotFound", err)
	}
}

func testConcurrentPut(t *testing.T, b objstore.Bucket) {
	const n = 4
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := b.Put(ctx(t), "race/obj", bytes.NewReader(contents[i]), int64(len(contents[i])), objstore.PutOptions{}); err != nil {
				t.Errorf("concurrent Put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := get(t, b, "race/obj")
	if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
		t.Error("after concurrent Puts the object holds a mix of writers' bytes")
	}
}

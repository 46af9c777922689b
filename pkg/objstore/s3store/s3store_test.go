package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/objstoretest"
	"github.com/printreg/printreg/pkg/objstore/s3store"
)

func newStore(t *testing.T, m *testenv.MinIO, bucket string) *s3store.Store {
	t.Helper()
	s, err := s3store.New(s3store.Config{
		Endpoint: m.Endpoint, Bucket: bucket, PathStyle: true,
		AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		PartSize: 5 << 20, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket is not idempotent: %v", err)
	}
	return s
}

func TestConformanceMinIO(t *testing.T) {
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	var n atomic.Int32
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		return newStore(t, m, fmt.Sprintf("conformance-%d", n.Add(1)))
	}, objstoretest.Options{LargeBytes: 6 << 20})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []s3store.Config{
		{Bucket: "b"},
		{Endpoint: "http://host:9000", Bucket: "b"},
		{Endpoint: "host:9000"},
		{Endpoint: "host:9000", Bucket: "b", PartSize: 1 << 20},
		{Endpoint: "host:9000", Bucket: "b", CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := s3store.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestErrorsHoldNoKeyAndUnreachableIsNotNotFound(t *testing.T) {
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	s := newStore(t, m, "errors")
	ctx := context.Background()
	const key = "DOE^JOHN MRN12345/scan.dcm"
	_, err := s.Stat(ctx, key)
	if !errors.Is(err, objstore.ErrNotFound) || strings.Contains(err.Error(), "MRN12345") {
		t.Errorf("Stat missing: %v", err)
	}
	if _, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	c2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = s.Stat(c2, key)
	if err == nil || errors.Is(err, objstore.ErrNotFound) || strings.Contains(err.Error(), "MRN12345") {
		t.Errorf("Stat with MinIO down: %v; want a transient error without the key", err)
	}
	rc, err := s.Get(c2, key)
	if err == nil {
		rc.Close()
	}
	if err == nil || strings.Contains(err.Error(), "MRN12345") || strings.Contains(err.Error(), "DOE") {
		t.Errorf("Get with MinIO down: %v; want an error without the key", err)
	}
	m.Start(t)
	if _, err := s.Stat(ctx, key); err != nil {
		t.Errorf("Stat after MinIO came back: %v", err)
	}
}

// TestReadStallFails: a server that sends the headers and part of the body,
// then nothing, fails the read after ReadIdleTimeout, with a message that
// names no key, instead of holding the object until its own deadline.
func TestReadStallFails(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Header().Set("ETag", `"0123456789abcdef"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	st, err := s3store.New(s3store.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "raw", PathStyle: true,
		AccessKey: "k", SecretKey: "s", Region: "us-east-1", MaxRetries: 1, ReadIdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rc, info, err := st.Open(context.Background(), "ACC-secret/slice.dcm")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if info.Size != 1000 {
		t.Errorf("size %d, want 1000", info.Size)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(rc); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no data for") || strings.Contains(err.Error(), "ACC-secret") {
			t.Errorf("read error %v, want a stall that names no key", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Errorf("a stall reads as the caller's cancellation: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the read of a stalled object did not fail")
	}
}

// TestPutPayloadSigning: uploads go as UNSIGNED-PAYLOAD by default, one
// request or several parts, and with SignPayload as minio-go's streamed
// signature; the content arrives whole either way.
func TestPutPayloadSigning(t *testing.T) {
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	target, err := url.Parse("http://" + m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			seen = append(seen, r.Header.Get("X-Amz-Content-Sha256"))
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	direct := newStore(t, m, "signing")
	small := bytes.Repeat([]byte("printreg "), 100_000) // 900 kB
	large := bytes.Repeat([]byte("printreg "), 700_000) // 6.3 MB, over the 5 MiB part size
	for _, c := range []struct {
		name   string
		sign   bool
		data   []byte
		header string // X-Amz-Content-Sha256 of every PUT
	}{
		{"unsigned", false, small, "UNSIGNED-PAYLOAD"},
		{"unsigned in parts", false, large, "UNSIGNED-PAYLOAD"},
		{"signed", true, small, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
		{"signed in parts", true, large, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := s3store.New(s3store.Config{
				Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "signing", PathStyle: true,
				AccessKey: m.AccessKey, SecretKey: m.SecretKey, PartSize: 5 << 20, MaxRetries: 1, SignPayload: c.sign,
			})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			key := "obj-" + strings.ReplaceAll(c.name, " ", "-")
			ctx := context.Background()
			if _, err := st.Put(ctx, key, bytes.NewReader(c.data), int64(len(c.data)), objstore.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if len(seen) == 0 {
				t.Error("no PUT went through")
			}
			for _, h := range seen {
				if h != c.header {
					t.Errorf("X-Amz-Content-Sha256 %q, want %q", h, c.header)
				}
			}
			mu.Unlock()
			rc, err := direct.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, c.data) {
				t.Errorf("stored %d bytes (%v), want the %d put", len(got), err, len(c.data))
			}
		})
	}
}

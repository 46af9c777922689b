package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
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

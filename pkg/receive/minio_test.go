package receive

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore/s3store"
)

func minioBucket(t *testing.T, m *testenv.MinIO) *s3store.Store {
	t.Helper()
	s, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: "raw", PathStyle: true,
		AccessKey: m.AccessKey, SecretKey: m.SecretKey, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStorescuToMinIO sends a series with dcmtk's storescu to a receiver
// whose raw bucket is a real MinIO, then stops MinIO: new associations are
// refused as transient congestion (storescu fails, the PACS would retry)
// until MinIO is back.
func TestStorescuToMinIO(t *testing.T) {
	storescu := testenv.Binary(t, "storescu")
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	b := minioBucket(t, m)
	cfg := dcmtkConfig(t)
	cfg.ReadyCacheTTL = time.Nanosecond
	e := startEnv(t, cfg, b)
	host, port := hostPort(t, e.dimse)
	paths := seriesFiles(t, "series_pydicom_CT5N_5slices")
	args := append([]string{"-R", "-aet", "DCMTK", "-aec", "PRINTREG", host, port}, paths...)
	if out, err := run(t, storescu, args...); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	var files []instanceFile
	for _, p := range paths {
		files = append(files, loadInstance(t, p))
	}
	checkStoredAs(t, b, files, "DCMTK", false)
	for _, k := range objects(t, b) {
		if !strings.HasPrefix(k, DefaultKeyPrefix) {
			t.Errorf("unexpected key %s", k)
		}
	}

	m.Stop()
	out, err := run(t, storescu, args[:len(args)-4]...)
	if err == nil || !strings.Contains(out, "Temporary Congestion") {
		t.Fatalf("storescu with MinIO down: err=%v\n%s", err, out)
	}
	m.Start(t)
	if out, err := run(t, storescu, args...); err != nil {
		t.Fatalf("storescu after MinIO is back: %v\n%s", err, out)
	}
	noLeftovers(t, e)
}

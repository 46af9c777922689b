// Package s3store is an objstore.Bucket on an S3-compatible service (MinIO,
// SeaweedFS, Ceph RGW, AWS S3…) through minio-go v7.
//
// Credentials are given as values (read by the caller from files or the
// environment) or, when empty, found by minio-go's chain: AWS_* and MINIO_*
// environment variables, then ~/.aws/credentials. They are never command-line
// arguments. Uploads of unknown size go in parts of Config.PartSize, so memory
// stays bounded by one part per upload.
package s3store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/printreg/printreg/pkg/objstore"
)

// DefaultPartSize is the multipart part size: 16 MiB, so an upload of
// unknown size buffers at most that much.
const DefaultPartSize = 16 << 20

// MinPartSize is S3's smallest multipart part (but the last).
const MinPartSize = 5 << 20

// DefaultMaxRetries is Config.MaxRetries's default.
const DefaultMaxRetries = 3

// Config describes one bucket on an S3-compatible service.
type Config struct {
	// Endpoint is host[:port], without scheme (e.g. "minio.lan:9000",
	// "s3.eu-west-1.amazonaws.com").
	Endpoint string
	// Bucket is the bucket name.
	Bucket string
	// Secure selects HTTPS.
	Secure bool
	// Region, when the service needs one (AWS); empty lets minio-go ask.
	Region string
	// PathStyle forces path-style requests (http://host/bucket/key), which
	// MinIO and most self-hosted services expect; false lets minio-go choose.
	PathStyle bool
	// AccessKey, SecretKey and SessionToken are the credentials; when
	// AccessKey is empty the environment chain is used.
	AccessKey, SecretKey, SessionToken string
	// CAFile is a PEM bundle of extra trusted CAs for HTTPS.
	CAFile string
	// PartSize is the multipart part size (default DefaultPartSize, min 5 MiB).
	PartSize uint64
	// MaxRetries bounds minio-go's own retries per request (default
	// DefaultMaxRetries); the pipeline retries whole objects with backoff
	// on top.
	MaxRetries int
	// ReadIdleTimeout bounds how long a read of an opened object may wait
	// for data (default DefaultReadIdleTimeout): a connection that stalls
	// mid-object fails then, not at the end of the object's own deadline.
	ReadIdleTimeout time.Duration
	// SignPayload signs the content of uploads over plain HTTP (minio-go's
	// streaming signature: a SHA-256 of the content and an HMAC per 64
	// KiB, a fifth of a worker's CPU). Off, uploads are sent as S3's
	// UNSIGNED-PAYLOAD, as minio-go always sends them over TLS: the
	// request itself stays signed, and a plain-HTTP link that an attacker
	// could alter would let them alter what the worker downloads anyway,
	// whose content no S3 client verifies. Use TLS wherever the link is
	// not trusted.
	SignPayload bool
}

// errStalled is the cause of a read that waited ReadIdleTimeout.
var errStalled = errors.New("s3 read stalled")

// DefaultReadIdleTimeout matches minio-go's wait for response headers.
const DefaultReadIdleTimeout = time.Minute

// Store is an S3 bucket. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client *minio.Client
}

// New returns the store for cfg. It does not contact the service.
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("s3: no endpoint configured")
	}
	if strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("s3: endpoint %q must be host[:port] without a scheme (set secure for HTTPS)", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.ReadIdleTimeout <= 0 {
		cfg.ReadIdleTimeout = DefaultReadIdleTimeout
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.EnvMinio{},
			&credentials.FileAWSCredentials{},
		})
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: transport: %w", err)
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3: CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client: %w", err)
	}
	return &Store{cfg: cfg, client: client}, nil
}

// Name returns the bucket name.
func (s *Store) Name() string { return s.cfg.Bucket }

// EnsureBucket creates the bucket when it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return mapErr("bucket exists", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if err != nil {
		if c := minio.ToErrorResponse(err).Code; c == "BucketAlreadyOwnedByYou" || c == "BucketAlreadyExists" {
			return nil
		}
		return mapErr("make bucket", err)
	}
	return nil
}

// opError keeps the cause for errors.Is/As but prints a message without the
// request URL or key.
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// mapErr classifies a minio-go error: not-found codes wrap
// objstore.ErrNotFound; the message keeps the S3 code and HTTP status but
// drops everything that can echo the key (server messages, request URLs).
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3 %s: %w", op, err)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code != "" || er.StatusCode != 0) {
		switch er.Code {
		case "NoSuchKey", "NoSuchBucket", "NoSuchVersion":
			return &opError{msg: fmt.Sprintf("s3 %s: %s: %v", op, er.Code, objstore.ErrNotFound), err: objstore.ErrNotFound}
		case "XMinioInvalidObjectName", "InvalidObjectName", "KeyTooLongError":
			return &opError{msg: fmt.Sprintf("s3 %s: %s: %v", op, er.Code, objstore.ErrInvalidKey), err: objstore.ErrInvalidKey}
		}
		if er.StatusCode == http.StatusNotFound && er.Code == "" {
			return &opError{msg: fmt.Sprintf("s3 %s: %v", op, objstore.ErrNotFound), err: objstore.ErrNotFound}
		}
		return &opError{msg: fmt.Sprintf("s3 %s: %s (HTTP %d)", op, er.Code, er.StatusCode), err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error prints the request URL, which holds the key.
		return &opError{msg: fmt.Sprintf("s3 %s: %s: %v", op, ue.Op, ue.Err), err: ue.Err}
	}
	return &opError{msg: fmt.Sprintf("s3 %s: %s", op, scrub(err.Error())), err: err}
}

// scrub drops anything after a colon that may quote a key in free-form
// client errors ("Object name contains …", "… for object x").
func scrub(msg string) string {
	if i := strings.Index(msg, "bject"); i >= 0 {
		return "request rejected by the client library"
	}
	return msg
}

// Stat returns the object's metadata (HEAD).
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.ObjectInfo{}, mapErr("stat", err)
	}
	return info(oi), nil
}

func info(oi minio.ObjectInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{
		Key:         oi.Key,
		Size:        oi.Size,
		ETag:        strings.Trim(oi.ETag, `"`),
		VersionID:   oi.VersionID,
		ModTime:     oi.LastModified,
		ContentType: oi.ContentType,
	}
}

// open returns the object for random access and its metadata (a HEAD: a
// missing object is reported now, not at the first ReadAt).
func (s *Store) open(ctx context.Context, key string) (*minio.Object, minio.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return nil, minio.ObjectInfo{}, err
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, mapErr("get", err)
	}
	oi, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, minio.ObjectInfo{}, mapErr("get", err)
	}
	return obj, oi, nil
}

// Get opens the object for streaming, with one GET request.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, _, err := s.Open(ctx, key)
	return rc, err
}

// Open opens the object for streaming and returns its metadata, from one GET
// request (minio-go's Object would send a HEAD first to learn them).
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, objstore.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	body, oi, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		cancel()
		return nil, objstore.ObjectInfo{}, mapErr("get", err)
	}
	in := info(oi)
	r := &reader{r: objstore.ExactReader(body, in.Size), c: body, cancel: cancel, idle: s.cfg.ReadIdleTimeout}
	r.timer = time.AfterFunc(r.idle, func() { r.stalled.Store(true); cancel() })
	r.timer.Stop()
	return r, in, nil
}

// reader maps read errors (a connection dropped mid-object) through mapErr
// and cancels the request when one read waits longer than idle.
type reader struct {
	r       io.Reader
	c       io.Closer
	cancel  context.CancelFunc
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func (r *reader) Read(p []byte) (int, error) {
	r.timer.Reset(r.idle)
	n, err := r.r.Read(p)
	r.timer.Stop()
	if err != nil && r.stalled.Load() {
		// Not the cancellation's error: callers take context.Canceled for
		// their own shutdown.
		return n, &opError{msg: fmt.Sprintf("s3 read: no data for %s", r.idle), err: errStalled}
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, objstore.ErrChanged) {
		err = mapErr("read", err)
	}
	return n, err
}

func (r *reader) Close() error {
	r.timer.Stop()
	err := r.c.Close()
	r.cancel()
	return err
}

// GetAt opens the object for random access; each ReadAt is a range request.
func (s *Store) GetAt(ctx context.Context, key string) (objstore.ReaderAt, error) {
	obj, oi, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &readerAt{obj: obj, size: oi.Size}, nil
}

type readerAt struct {
	obj  *minio.Object
	size int64
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.obj.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = mapErr("read", err)
	}
	return n, err
}
func (r *readerAt) Close() error { return r.obj.Close() }
func (r *readerAt) Size() int64  { return r.size }

// Put uploads r: one PUT when size is known and at most one part, multipart
// otherwise (parts of Config.PartSize, one in memory at a time).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	ct := opts.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	if size >= 0 {
		r = objstore.ExactReader(r, size)
	}
	ui, err := s.client.PutObject(ctx, s.cfg.Bucket, key, r, size, minio.PutObjectOptions{
		ContentType:          ct,
		PartSize:             s.cfg.PartSize,
		NumThreads:           1,
		DisableContentSha256: !s.cfg.SignPayload,
	})
	if err != nil {
		if errors.Is(err, objstore.ErrChanged) {
			return objstore.ObjectInfo{}, fmt.Errorf("s3 put: %w", objstore.ErrChanged)
		}
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	return objstore.ObjectInfo{
		Key:         key,
		Size:        ui.Size,
		ETag:        strings.Trim(ui.ETag, `"`),
		VersionID:   ui.VersionID,
		ModTime:     ui.LastModified,
		ContentType: ct,
	}, nil
}

// List calls fn for each object under prefix (recursively), in key order.
func (s *Store) List(ctx context.Context, prefix string, fn func(objstore.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	var ferr error
	for oi := range ch {
		if ferr != nil {
			continue // drain after cancel so the lister goroutine ends
		}
		if oi.Err != nil {
			ferr = mapErr("list", oi.Err)
			cancel()
			continue
		}
		if strings.HasSuffix(oi.Key, "/") && oi.Size == 0 {
			continue // folder placeholder
		}
		if err := fn(info(oi)); err != nil {
			ferr = err
			cancel()
		}
	}
	if ferr == nil {
		ferr = ctx.Err()
	}
	return ferr
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(mapErr("delete", err), objstore.ErrNotFound) {
		return mapErr("delete", err)
	}
	return nil
}

// Ping checks that the bucket is reachable with the configured credentials.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return mapErr("ping", err)
	}
	if !ok {
		return fmt.Errorf("s3 ping: bucket: %w", objstore.ErrNotFound)
	}
	return nil
}

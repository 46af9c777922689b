// Package objstore is the small object-storage interface the pipeline reads
// raw objects from and writes de-identified outputs to, with helpers shared by
// its implementations: S3-compatible services through minio-go (package
// s3store) and a local directory (package dirstore).
//
// The interface follows thanos-io/objstore with two changes: "not found" is a
// package sentinel usable with errors.Is on any error, and listing never builds
// a slice. Every call takes ctx first and streams; nothing holds a whole object
// in memory.
//
// Object keys come from hospitals and may carry names or record numbers, so no
// error returned by this package or its implementations contains a key or an
// object's content: callers log keyed hashes of keys instead.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Implementations wrap them, so errors.Is works on any
// error they return.
var (
	// ErrNotFound means the object (or bucket) does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrTooLarge means the object is larger than the caller's cap; it is
	// returned before any byte of the object is downloaded.
	ErrTooLarge = errors.New("object larger than the configured cap")
	// ErrInvalidKey means the key cannot name an object in this store (empty,
	// too long, not UTF-8, a NUL byte, or — for a directory — a path that
	// would leave the directory).
	ErrInvalidKey = errors.New("invalid object key")
	// ErrChanged means the object's content changed while it was being read
	// (its size no longer matches what Stat reported).
	ErrChanged = errors.New("object changed while it was read")
)

// MaxKeyBytes is the longest key accepted, the S3 limit.
const MaxKeyBytes = 1024

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Key is the object's key. It may hold identifiers: never log it.
	Key string
	// Size in bytes.
	Size int64
	// ETag identifies the content version: the S3 ETag (without quotes), or
	// the hex SHA-256 of the content for a directory store. Equal ETags mean
	// equal content; the converse does not hold for S3 multipart uploads.
	ETag string
	// VersionID is set when the bucket is versioned.
	VersionID string
	// ModTime is the last modification time.
	ModTime time.Time
	// ContentType is the stored media type, when known.
	ContentType string
}

// PutOptions are optional settings of one Put.
type PutOptions struct {
	// ContentType is stored with the object (default application/octet-stream).
	ContentType string
}

// ReaderAt is random access to one object, for formats read by offset (zip
// containers such as 3MF): range requests on S3, a file on disk.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	// Size is the object's size in bytes.
	Size() int64
}

// Bucket is one bucket (or directory) of objects.
type Bucket interface {
	// Name names the bucket for references in messages (not a secret, not
	// an identifier).
	Name() string
	// Stat returns the object's metadata without reading its content.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Get opens the object for streaming. It returns ErrNotFound before the
	// first Read when the object does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetAt opens the object for random access.
	GetAt(ctx context.Context, key string) (ReaderAt, error)
	// Put stores r under key. size is the exact length, or -1 when unknown
	// (S3 then uploads in parts of bounded size). A reader that ends before
	// size, or a cancelled ctx, leaves no object behind; a concurrent reader
	// sees the old content or the new, never a mix.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix, in no
	// guaranteed order, until fn returns an error (List then returns it).
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// CheckKey reports whether key is acceptable to every store: non-empty, at
// most MaxKeyBytes, valid UTF-8, no NUL byte. Stores add their own rules.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: contains a NUL byte", ErrInvalidKey)
	}
	return nil
}

// StatCapped returns the object's metadata, or an error wrapping ErrTooLarge
// when it is larger than maxBytes (maxBytes ≤ 0 means no cap). Call it before
// downloading anything.
func StatCapped(ctx context.Context, b Bucket, key string, maxBytes int64) (ObjectInfo, error) {
	info, err := b.Stat(ctx, key)
	if err != nil {
		return info, err
	}
	if maxBytes > 0 && info.Size > maxBytes {
		return info, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, info.Size, maxBytes)
	}
	return info, nil
}

// Notifier is implemented by a store that can send its bucket's object
// events (created and removed) to a message queue: S3 bucket notifications.
type Notifier interface {
	ConfigureNotification(ctx context.Context, cfg NotifyConfig) error
}

// NotifyConfig is the bucket notification that feeds the work stream.
type NotifyConfig struct {
	// ARN of the server's NATS target, e.g. arn:minio:sqs::PRINTREG:nats
	// for MINIO_NOTIFY_NATS_*_PRINTREG (the target id is the env suffix).
	ARN string
	// Prefix and Suffix filter the object keys (empty: all).
	Prefix, Suffix string
}

// Opener is implemented by a store that opens an object and returns its
// metadata in one request (S3: the GET's response headers), sparing the
// HEAD that a Stat before a Get costs on every object.
type Opener interface {
	// Open opens the object for streaming and returns its metadata. The
	// reader yields exactly info.Size bytes or fails with ErrChanged.
	Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
}

// OpenCapped opens the object and returns its metadata, or an error wrapping
// ErrTooLarge (with the metadata, nothing left open and at most one buffer
// of the content read) when it is larger than maxBytes (≤ 0: no cap). The
// reader yields exactly info.Size bytes or fails with ErrChanged. A store
// that is not an Opener is asked Stat, then Get.
func OpenCapped(ctx context.Context, b Bucket, key string, maxBytes int64) (io.ReadCloser, ObjectInfo, error) {
	if o, ok := b.(Opener); ok {
		rc, info, err := o.Open(ctx, key)
		if err != nil {
			return nil, info, err
		}
		if maxBytes > 0 && info.Size > maxBytes {
			rc.Close()
			return nil, info, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, info.Size, maxBytes)
		}
		return rc, info, nil
	}
	info, err := StatCapped(ctx, b, key, maxBytes)
	if err != nil {
		return nil, info, err
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	return ExactReadCloser(rc, info.Size), info, nil
}

// ExactReadCloser is ExactReader keeping rc's Close.
func ExactReadCloser(rc io.ReadCloser, size int64) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{ExactReader(rc, size), rc}
}

// ExactReader returns a reader over r that fails with ErrChanged when r
// yields more or fewer than size bytes, so a caller that checked the size
// with Stat never reads past it (an object replaced by a larger one between
// Stat and Get is cut off, not read into memory).
func ExactReader(r io.Reader, size int64) io.Reader {
	return &exactReader{r: r, left: size}
}

type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if e.left <= 0 {
		// Probe for one more byte so a grown object is reported, not cut.
		var one [1]byte
		n, err := e.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: longer than its stated size", ErrChanged)
		}
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) {
		if e.left > 0 {
			return n, fmt.Errorf("%w: %d bytes shorter than its stated size", ErrChanged, e.left)
		}
		return n, nil // the next call probes for extra bytes and returns io.EOF
	}
	return n, err
}

// ContextReader returns a reader over r that stops with ctx's error once ctx
// is done, for copies that would otherwise ignore cancellation.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

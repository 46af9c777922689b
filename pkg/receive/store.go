package receive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/printreg/printreg/pkg/objstore"
)

// ErrStoreFull is returned by the readiness check when the store or the
// spool is out of space.
var ErrStoreFull = errors.New("no space left for received instances")

// HealthChecker is implemented by buckets that can tell whether a put would
// succeed now. Buckets without it are checked as described at storeHealth.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// pinger is s3store.Store's reachability check.
type pinger interface {
	Ping(ctx context.Context) error
}

// dirBucket is dirstore.Store's directory.
type dirBucket interface {
	Dir() string
}

// healthProbeKey is looked up (never written) to check reachability of a
// bucket that offers no better check.
const healthProbeKey = ".printreg-receive-health"

// storeHealth checks the bucket: its own Health when it has one; Ping for
// S3; for a directory, that it exists and has MinStoreFreeBytes free;
// otherwise a Stat of a probe key, where "not found" means reachable.
func (r *Receiver) storeHealth(ctx context.Context) error {
	switch b := r.bucket.(type) {
	case HealthChecker:
		return b.Health(ctx)
	case pinger:
		if err := b.Ping(ctx); err != nil {
			return fmt.Errorf("receive: object store unreachable: %w", err)
		}
		return nil
	case dirBucket:
		dir := b.Dir()
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return errors.New("receive: store directory is not available")
		}
		free, err := freeBytes(dir)
		if err != nil {
			return err
		}
		if free < int64(r.cfg.MinStoreFreeBytes) {
			return fmt.Errorf("receive: store directory has %d bytes free, under the %d minimum: %w", free, r.cfg.MinStoreFreeBytes, ErrStoreFull)
		}
		return nil
	}
	if _, err := r.bucket.Stat(ctx, healthProbeKey); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("receive: object store unreachable: %w", err)
	}
	return nil
}

// freeBytes returns the space available to an unprivileged writer.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("receive: checking free space: %w", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

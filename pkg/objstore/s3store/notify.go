package s3store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/printreg/printreg/pkg/objstore"
)

// ConfigureNotification makes the bucket send its object-created and
// object-removed events to the NATS target named by cfg.ARN, keeping the
// bucket's other notification rules. It is idempotent, and replaces the
// rule of an earlier release that sent only object-created events (so that
// deleted objects are retracted from their cases). The MinIO server must
// already define the target (MINIO_NOTIFY_NATS_ENABLE_<ID>=on and friends,
// see docs/operations.md); otherwise MinIO answers that the ARN does not
// exist.
func (s *Store) ConfigureNotification(ctx context.Context, cfg objstore.NotifyConfig) error {
	client, bucket := s.client, s.cfg.Bucket
	arn, err := notification.NewArnFromString(cfg.ARN)
	if err != nil {
		return fmt.Errorf("notification: ARN %q: %w", cfg.ARN, err)
	}
	cur, err := client.GetBucketNotification(ctx, bucket)
	if err != nil {
		return fmt.Errorf("notification: read bucket configuration: %w", mapMinioErr(err))
	}
	events := notifyEvents
	for _, q := range cur.QueueConfigs {
		if q.Arn == arn && q.Equal(events, cfg.Prefix, cfg.Suffix) {
			return nil // already there
		}
	}
	qc := notification.NewConfig(arn)
	qc.AddEvents(events...)
	if cfg.Prefix != "" {
		qc.AddFilterPrefix(cfg.Prefix)
	}
	if cfg.Suffix != "" {
		qc.AddFilterSuffix(cfg.Suffix)
	}
	// Replace our earlier rule for this ARN (other filters) rather than
	// adding an overlapping one, which S3 refuses.
	cur.RemoveQueueByArn(arn)
	if !cur.AddQueue(qc) {
		return fmt.Errorf("notification: the bucket already has an overlapping rule")
	}
	// A MinIO that has just started refuses the ARN until its NATS target
	// has connected: wait for that a little before giving up.
	for attempt := 1; ; attempt++ {
		err := client.SetBucketNotification(ctx, bucket, cur)
		if err == nil {
			return nil
		}
		if !unknownARN(err) || attempt >= arnAttempts {
			return fmt.Errorf("notification: %w (is the MinIO NATS target %q configured and enabled?)", mapMinioErr(err), cfg.ARN)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("notification: %w", ctx.Err())
		case <-time.After(arnRetryDelay):
		}
	}
}

// notifyEvents are the bucket events the work stream takes: new versions
// are processed, deletions retracted.
var notifyEvents = []notification.EventType{notification.ObjectCreatedAll, notification.ObjectRemovedAll}

// arnAttempts × arnRetryDelay is how long ConfigureNotification waits for
// MinIO's notification target to come online.
const (
	arnAttempts   = 30
	arnRetryDelay = 500 * time.Millisecond
)

// unknownARN tells MinIO's refusal of a notification target it does not
// (yet) have.
func unknownARN(err error) bool {
	er := minio.ToErrorResponse(err)
	return er.Code == "InvalidArgument" && strings.Contains(er.Message, "ARN")
}

// mapMinioErr keeps the S3 code of an error response.
func mapMinioErr(err error) error {
	if er := minio.ToErrorResponse(err); er.Code != "" {
		return fmt.Errorf("%s (HTTP %d): %s", er.Code, er.StatusCode, er.Message)
	}
	return err
}

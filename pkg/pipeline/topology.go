package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Topology names and sizes the JetStream resources. DefaultTopology gives the
// production names; tests may prefix them.
type Topology struct {
	// WorkStream is the work-queue stream of objects to process.
	WorkStream string
	// WorkSubject is the subject prefix of work items: the stream takes
	// <WorkSubject>.>, MinIO publishes on <WorkSubject>.notify, scan on
	// .scan, the inbox on .inbox and replay on .replay.
	WorkSubject string
	// Consumer is the durable pull consumer shared by every worker.
	Consumer string
	// RegistryStream holds case events on <RegistrySubject>.<case_id>.
	RegistryStream  string
	RegistrySubject string
	// DLQStream holds failed work items on <DLQSubject>.<reason>.
	DLQStream  string
	DLQSubject string
	// CasesBucket (case state), TimersBucket (due completeness timers) and
	// ProcessedBucket (processed-object markers) are KV buckets.
	CasesBucket     string
	TimersBucket    string
	ProcessedBucket string
	// Memory selects memory storage (tests, benchmarks); the default is file.
	Memory bool
	// StreamLimits are the settings an operator tunes (the ingest
	// configuration's streams section).
	StreamLimits
}

// StreamLimits size the streams, buckets and the consumer: the streams
// section of the ingest configuration. DefaultTopology holds the defaults.
type StreamLimits struct {
	// Replicas of every stream and bucket (3 on a clustered JetStream).
	Replicas int `yaml:"replicas"`
	// AckWait is how long a delivery may go without an ack or an in-progress
	// heartbeat before it is redelivered. It is the first BackOff step.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver bounds deliveries of one work item.
	MaxDeliver int `yaml:"max_deliver"`
	// BackOff is the redelivery schedule after ack timeouts (a crashed or
	// stuck worker); its first entry is AckWait. Explicit naks use the
	// worker's own RetryDelays.
	BackOff []time.Duration `yaml:"backoff"`
	// MaxAckPending bounds work items in flight across all workers of all
	// processes: the cluster-wide concurrency limit.
	MaxAckPending int `yaml:"max_ack_pending"`
	// WorkDuplicates is the work stream's Nats-Msg-Id window (scan, inbox
	// and replay publish with ids; MinIO does not).
	WorkDuplicates time.Duration `yaml:"work_duplicates"`
	// RegistryDuplicates is the case-event Nats-Msg-Id window.
	RegistryDuplicates time.Duration `yaml:"registry_duplicates"`
	// RegistryMaxAge expires case events (0: keep forever).
	RegistryMaxAge time.Duration `yaml:"registry_max_age"`
	// DLQMaxAge expires DLQ entries (0: keep forever).
	DLQMaxAge time.Duration `yaml:"dlq_max_age"`
	// ProcessedTTL expires processed markers (0: keep forever). After
	// expiry a rescan processes the object again, which changes no case.
	ProcessedTTL time.Duration `yaml:"processed_ttl"`
}

// DefaultTopology returns the production names and settings.
func DefaultTopology() Topology {
	return Topology{
		WorkStream:      "PRINTREG_OBJECTS",
		WorkSubject:     "printreg.objects",
		Consumer:        "ingest-worker",
		RegistryStream:  "PRINTREG_REGISTRY",
		RegistrySubject: "registry.case",
		DLQStream:       "PRINTREG_DLQ",
		DLQSubject:      "printreg.dlq",
		CasesBucket:     "PRINTREG_CASES",
		TimersBucket:    "PRINTREG_TIMERS",
		ProcessedBucket: "PRINTREG_PROCESSED",
		StreamLimits: StreamLimits{
			Replicas:           1,
			AckWait:            60 * time.Second,
			MaxDeliver:         8,
			BackOff:            []time.Duration{60 * time.Second, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute},
			MaxAckPending:      256,
			WorkDuplicates:     10 * time.Minute,
			RegistryDuplicates: time.Hour,
			DLQMaxAge:          90 * 24 * time.Hour,
		},
	}
}

// Work-item subjects (suffixes of Topology.WorkSubject).
const (
	SourceNotify = "notify"
	SourceScan   = "scan"
	SourceInbox  = "inbox"
	SourceReplay = "replay"
)

// WorkSubjectFor returns the subject work items from source are published on.
func (t Topology) WorkSubjectFor(source string) string { return t.WorkSubject + "." + source }

// CaseSubject returns the subject of case caseID's events.
func (t Topology) CaseSubject(caseID string) string { return t.RegistrySubject + "." + caseID }

// DLQSubjectFor returns the DLQ subject for a reason code.
func (t Topology) DLQSubjectFor(reason string) string { return t.DLQSubject + "." + reason }

// Validate checks names and the consumer settings JetStream would reject.
func (t Topology) Validate() error {
	var errs []error
	for _, n := range []struct{ what, v string }{
		{"work stream", t.WorkStream}, {"consumer", t.Consumer}, {"registry stream", t.RegistryStream},
		{"DLQ stream", t.DLQStream}, {"cases bucket", t.CasesBucket}, {"timers bucket", t.TimersBucket},
		{"processed bucket", t.ProcessedBucket},
	} {
		if n.v == "" || strings.ContainsAny(n.v, ".*> \t\r\n/\\") {
			errs = append(errs, fmt.Errorf("%s name %q is empty or holds . * > / \\ or spaces", n.what, n.v))
		}
	}
	for _, s := range []struct{ what, v string }{
		{"work subject", t.WorkSubject}, {"registry subject", t.RegistrySubject}, {"DLQ subject", t.DLQSubject},
	} {
		if s.v == "" || strings.ContainsAny(s.v, "*> \t\r\n") || strings.HasPrefix(s.v, ".") || strings.HasSuffix(s.v, ".") {
			errs = append(errs, fmt.Errorf("%s %q is not a plain subject prefix", s.what, s.v))
		}
	}
	if t.Replicas < 1 || t.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: use 1 to 5", t.Replicas))
	}
	if t.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("max_deliver %d: must be at least 1", t.MaxDeliver))
	}
	if len(t.BackOff) > 0 {
		if t.BackOff[0] != t.AckWait {
			errs = append(errs, fmt.Errorf("backoff starts with %s but ack_wait is %s: JetStream uses the first backoff step as the ack wait, make them equal", t.BackOff[0], t.AckWait))
		}
		if len(t.BackOff) > t.MaxDeliver {
			errs = append(errs, fmt.Errorf("backoff has %d steps, more than max_deliver %d", len(t.BackOff), t.MaxDeliver))
		}
	}
	if t.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack_wait %s is below one second", t.AckWait))
	}
	if t.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("max_ack_pending %d: must be at least 1", t.MaxAckPending))
	}
	return errors.Join(errs...)
}

func (t Topology) storage() jetstream.StorageType {
	if t.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// ConsumerConfig is the durable consumer every worker shares.
func (t Topology) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       t.Consumer,
		Description:   "printreg ingest workers (shared by every process)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.AckWait,
		MaxDeliver:    t.MaxDeliver,
		BackOff:       t.BackOff,
		MaxAckPending: t.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: t.WorkSubject + ".>",
		Replicas:      t.Replicas,
	}
}

// Setup creates or updates every stream, KV bucket and the consumer. It is
// idempotent: running it again with the same topology changes nothing, and
// with new limits updates them in place.
func Setup(ctx context.Context, js jetstream.JetStream, t Topology) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	st := t.storage()
	streams := []jetstream.StreamConfig{
		{
			Name:        t.WorkStream,
			Description: "printreg objects to process (bucket notifications, scan, inbox, replay)",
			Subjects:    []string{t.WorkSubject + ".>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     st,
			Replicas:    t.Replicas,
			Duplicates:  t.WorkDuplicates,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        t.RegistryStream,
			Description: "printreg registry case events (CloudEvents JSON)",
			Subjects:    []string{t.RegistrySubject + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     st,
			Replicas:    t.Replicas,
			Duplicates:  t.RegistryDuplicates,
			MaxAge:      t.RegistryMaxAge,
		},
		{
			Name:        t.DLQStream,
			Description: "printreg work items that failed permanently (reason in the subject and headers)",
			Subjects:    []string{t.DLQSubject + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     st,
			Replicas:    t.Replicas,
			Duplicates:  t.WorkDuplicates,
			MaxAge:      t.DLQMaxAge,
		},
	}
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w%s", cfg.Name, err, placementHint(err, t.Replicas))
		}
	}
	kvs := []jetstream.KeyValueConfig{
		{Bucket: t.CasesBucket, Description: "printreg case state (compare-and-set)", History: 1, Storage: st, Replicas: t.Replicas},
		{Bucket: t.TimersBucket, Description: "printreg case timers due", History: 1, Storage: st, Replicas: t.Replicas},
		{Bucket: t.ProcessedBucket, Description: "printreg processed-object markers", History: 1, Storage: st, Replicas: t.Replicas, TTL: t.ProcessedTTL},
	}
	for _, cfg := range kvs {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("KV bucket %s: %w%s", cfg.Bucket, err, placementHint(err, t.Replicas))
		}
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, t.WorkStream, t.ConsumerConfig()); err != nil {
		return fmt.Errorf("consumer %s: %w", t.Consumer, err)
	}
	return nil
}

// JetStream's codes for a stream it cannot place: replicas > 1 on a server
// that is not clustered, and too few servers up (or known to the meta
// leader yet) for the replicas asked.
const (
	errCodeReplicasNotClustered jetstream.ErrorCode = 10074
	errCodeNoSuitablePeers      jetstream.ErrorCode = 10005
)

// placementHint tells the operator what to change when JetStream cannot
// place a stream or bucket of the topology's replicas.
func placementHint(err error, replicas int) string {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	switch apiErr.ErrorCode {
	case errCodeReplicasNotClustered:
		return fmt.Sprintf(" (replicas %d needs a JetStream cluster; this server is not clustered: set streams.replicas to 1, or cluster it)", replicas)
	case errCodeNoSuitablePeers:
		return fmt.Sprintf(" (replicas %d needs as many JetStream servers up in the cluster, and its leader to know them: start the ones that are down, or lower streams.replicas; a cluster that has just started may need a few seconds, then run setup again)", replicas)
	}
	return ""
}

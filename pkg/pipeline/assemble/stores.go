package assemble

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
)

// Buckets names the KV buckets the domain step keeps beside the
// pipeline's: the pipeline knows nothing of series or aliases.
type Buckets struct {
	// Series holds series geometry, one record per instance (series.go).
	Series string
	// Aliases maps the case ids a study also answers to (its
	// StudyInstanceUID's) to its case.
	Aliases string
}

// DefaultBuckets returns the production names.
func DefaultBuckets() Buckets {
	return Buckets{Series: "PRINTREG_SERIES", Aliases: "PRINTREG_ALIASES"}
}

// Validate checks the names.
func (b Buckets) Validate() error {
	for _, n := range []struct{ what, v string }{{"series bucket", b.Series}, {"aliases bucket", b.Aliases}} {
		if n.v == "" || strings.ContainsAny(n.v, ".*> \t\r\n/\\") {
			return fmt.Errorf("%s name %q is empty or holds . * > / \\ or spaces", n.what, n.v)
		}
	}
	return nil
}

// Setup creates the buckets, or updates them, with the replicas and
// storage of the pipeline's topology. Idempotent, like pipeline.Setup.
func Setup(ctx context.Context, js jetstream.JetStream, b Buckets, topo pipeline.Topology) error {
	if err := b.Validate(); err != nil {
		return err
	}
	st := jetstream.FileStorage
	if topo.Memory {
		st = jetstream.MemoryStorage
	}
	for _, cfg := range []jetstream.KeyValueConfig{
		{Bucket: b.Series, Description: "printreg series geometry, one record per instance", History: 1, Storage: st, Replicas: topo.Replicas},
		{Bucket: b.Aliases, Description: "printreg case aliases: StudyInstanceUID case id to accession case id", History: 1, Storage: st, Replicas: topo.Replicas},
	} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("KV bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// Cases is the case store the domain step folds aliased cases through:
// the worker's (a *pipeline.CaseStore given to both in pipeline.Deps.Cases).
type Cases interface {
	Update(ctx context.Context, caseID string, merge pipeline.MergeFunc) (pipeline.UpdateResult, error)
}

// Stores are what the domain step reads and writes besides the objects.
type Stores struct {
	Cases   Cases
	Series  jetstream.KeyValue
	Aliases jetstream.KeyValue
}

// OpenStores binds to the buckets (created by Setup) and returns them with
// cases.
func OpenStores(ctx context.Context, js jetstream.JetStream, b Buckets, cases Cases) (Stores, error) {
	series, err := js.KeyValue(ctx, b.Series)
	if err != nil {
		return Stores{}, fmt.Errorf("assemble: KV bucket %s%s: %w", b.Series, pipeline.SetupHint(err), err)
	}
	aliases, err := js.KeyValue(ctx, b.Aliases)
	if err != nil {
		return Stores{}, fmt.Errorf("assemble: KV bucket %s%s: %w", b.Aliases, pipeline.SetupHint(err), err)
	}
	return Stores{Cases: cases, Series: series, Aliases: aliases}, nil
}

package testenv

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/objstore/s3store"
)

// The environment a test gives a child worker process: where its servers
// are (ServerEnv), read back in the child by ConnectServers.
const (
	envServerNATS     = "PRINTREG_TEST_NATS_URL"
	envServerS3       = "PRINTREG_TEST_S3_ENDPOINT"
	envServerS3Access = "PRINTREG_TEST_S3_ACCESS"
	envServerS3Secret = "PRINTREG_TEST_S3_SECRET"
)

// ServerEnv is the environment that tells a child process (see
// ConnectServers) the NATS URL (or comma-separated server list) and MinIO
// to use.
func ServerEnv(natsURL string, m *MinIO) []string {
	return []string{envServerNATS + "=" + natsURL, envServerS3 + "=" + m.Endpoint,
		envServerS3Access + "=" + m.AccessKey, envServerS3Secret + "=" + m.SecretKey}
}

// Servers are a child process's connections to its test's servers.
type Servers struct {
	NC        *nats.Conn
	JS        jetstream.JetStream
	Raw, Deid *s3store.Store
}

// ConnectServers connects a child process to the servers named by
// ServerEnv: NATS (reconnecting for ever, so that a test may restart or
// kill servers under it) and the "raw" and "deid" buckets.
func ConnectServers() (*Servers, error) {
	nc, err := nats.Connect(os.Getenv(envServerNATS), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, fmt.Errorf("testenv: nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &Servers{NC: nc, JS: js}
	for _, b := range []struct {
		name string
		to   **s3store.Store
	}{{"raw", &s.Raw}, {"deid", &s.Deid}} {
		st, err := s3store.New(s3store.Config{Endpoint: os.Getenv(envServerS3), Bucket: b.name, PathStyle: true,
			AccessKey: os.Getenv(envServerS3Access), SecretKey: os.Getenv(envServerS3Secret), MaxRetries: 1})
		if err != nil {
			nc.Close()
			return nil, err
		}
		*b.to = st
	}
	return s, nil
}

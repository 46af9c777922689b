// Command receiver runs printreg's C-STORE receiver for bench/pacs/run.sh:
// one listener, a directory store or a MinIO bucket, a throwaway site key.
// On SIGTERM or SIGINT it stops, then prints the receiver's counters as one
// JSON line on stdout, so the script can check that every instance landed.
//
// MinIO credentials come from the environment (PRINTREG_S3_ACCESS_KEY,
// PRINTREG_S3_SECRET_KEY), never from the command line.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/receive"
	"github.com/printreg/printreg/pkg/sitekey"
	"github.com/printreg/printreg/pkg/stow"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:11112", "TCP address for C-STORE")
	dir := flag.String("dir", "", "directory store (the raw bucket as a folder)")
	null := flag.Bool("null", false, "discard instances after spooling (measures the network path alone)")
	endpoint := flag.String("s3-endpoint", "", "S3/MinIO endpoint host:port instead of -dir")
	bucketName := flag.String("s3-bucket", "raw", "bucket on the S3 endpoint")
	spool := flag.String("spool", "", "spool directory (default: system temporary directory)")
	maxPDU := flag.Uint("max-pdu", 131072, "maximum PDU length advertised")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var bucket objstore.Bucket
	switch {
	case *null:
		bucket = nullBucket{}
	case *dir != "":
		d, err := dirstore.New(*dir, "raw")
		if err != nil {
			return err
		}
		defer d.Close()
		bucket = d
	case *endpoint != "":
		s, err := s3store.New(s3store.Config{Endpoint: *endpoint, Bucket: *bucketName, PathStyle: true,
			AccessKey: os.Getenv("PRINTREG_S3_ACCESS_KEY"), SecretKey: os.Getenv("PRINTREG_S3_SECRET_KEY")})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.EnsureBucket(ctx)
		cancel()
		if err != nil {
			return err
		}
		bucket = s
	default:
		return fmt.Errorf("one of -dir and -s3-endpoint is required")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	key, err := sitekey.New(secret)
	if err != nil {
		return err
	}
	cfg := receive.Config{SpoolDir: *spool,
		DIMSE: dimse.Config{AETitles: []string{"PRINTREG"}, MaxPDULength: confval.ByteSize(*maxPDU)},
		STOW:  stow.Config{AllowUnauthenticated: true}}
	r, err := receive.New(cfg, bucket, key, zerolog.Nop())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintln(os.Stderr, "ready", ln.Addr())
	if err := r.ServeDIMSE(ctx, ln); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r.DIMSE().Stats())
}

// nullBucket discards what is put: the ceiling of the receiver without a
// store. Only Put and Stat are used by the receiver.
type nullBucket struct{ objstore.Bucket }

func (nullBucket) Put(ctx context.Context, key string, r io.Reader, size int64, _ objstore.PutOptions) (objstore.ObjectInfo, error) {
	n, err := io.Copy(io.Discard, r)
	return objstore.ObjectInfo{Key: key, Size: n}, err
}

func (nullBucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, objstore.ErrNotFound
}

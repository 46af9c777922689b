package receive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/sitekey"
	"github.com/printreg/printreg/pkg/stow"
)

const testdata = "../../testdata/dicom"

// testKey is a fixed site key for tests.
func testKey(t testing.TB) *sitekey.Key {
	t.Helper()
	k, err := sitekey.New([]byte("printreg receive test secret, 32+ bytes long"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flakyBucket wraps a bucket with switchable failures.
type flakyBucket struct {
	objstore.Bucket
	failPut   atomic.Bool
	unhealthy atomic.Bool
	puts      atomic.Int64
}

func (b *flakyBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o objstore.PutOptions) (objstore.ObjectInfo, error) {
	if b.failPut.Load() {
		return objstore.ObjectInfo{}, errors.New("simulated store failure")
	}
	b.puts.Add(1)
	return b.Bucket.Put(ctx, key, r, size, o)
}

func (b *flakyBucket) Health(ctx context.Context) error {
	if b.unhealthy.Load() {
		return errors.New("simulated store outage")
	}
	return nil
}

func newDirBucket(t testing.TB) *dirstore.Store {
	t.Helper()
	s, err := dirstore.New(t.TempDir(), "raw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is a running receiver with both front doors on loopback.
type env struct {
	r        *Receiver
	bucket   objstore.Bucket
	dimse    string // host:port
	stowURL  string // http://host:port/dicomweb
	spoolDir string
	stop     func()
}

// testConfig is a receiver configuration for tests: small free-space
// minimums (test machines can be full) and an unauthenticated STOW-RS.
func testConfig(t testing.TB) Config {
	return Config{SpoolDir: t.TempDir(), MinSpoolFreeBytes: 1, MinStoreFreeBytes: 1,
		STOW: stowConfigUnauth()}
}

func startEnv(t testing.TB, cfg Config, b objstore.Bucket) *env {
	t.Helper()
	return startEnvOn(t, cfg, b, func(network, addr string) (net.Listener, error) { return net.Listen(network, addr) })
}

func startEnvOn(t testing.TB, cfg Config, b objstore.Bucket, listen func(network, addr string) (net.Listener, error)) *env {
	t.Helper()
	r, err := New(cfg, b, testKey(t), zerolog.Nop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	dl, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := r.ServeDIMSE(ctx, dl); err != nil {
			t.Errorf("ServeDIMSE: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := r.ServeSTOW(ctx, sl); err != nil {
			t.Errorf("ServeSTOW: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	scheme := "http"
	if cfg.STOW.TLS.Enabled() {
		scheme = "https"
	}
	return &env{r: r, bucket: b, dimse: dl.Addr().String(), stowURL: scheme + "://" + sl.Addr().String() + r.STOW().Config().BasePath,
		spoolDir: cfg.SpoolDir, stop: stop}
}

// objects lists the keys in a bucket.
func objects(t testing.TB, b objstore.Bucket) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), "", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func getObject(t testing.TB, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// instanceFile is a test file with the identifiers its key is built from.
type instanceFile struct {
	path                                         string
	sopClass, sopInstance, study, series, syntax string
	dataSet                                      []byte // bytes after the file meta
}

func loadInstance(t testing.TB, path string) instanceFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dimse.ReadPart10(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	o, err := dicomx.ReadMeta(bytes.NewReader(data), int64(len(data)), dicomx.Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return instanceFile{path: path, sopClass: o.Dataset.Str(dicomx.TagSOPClassUID), sopInstance: o.Dataset.Str(dicomx.TagSOPInstanceUID),
		study: o.Dataset.Str(dicomx.TagStudyInstanceUID), series: o.Dataset.Str(dicomx.TagSeriesInstanceUID),
		syntax: p.TransferSyntaxUID, dataSet: data[p.DataSetOffset:]}
}

func (f instanceFile) key(t testing.TB) string {
	return ObjectKey(testKey(t), DefaultKeyPrefix, f.study, f.series, f.sopInstance)
}

// seriesFiles lists the .dcm files of a testdata folder.
func seriesFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(testdata, dir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// checkStored verifies that each file landed under its key with its data set
// byte for byte and a file meta built for it; it returns the stored bytes.
func checkStored(t testing.TB, b objstore.Bucket, files []instanceFile, callingAE string) map[string][]byte {
	return checkStoredAs(t, b, files, callingAE, true)
}

// checkStoredAs is checkStored; with exact false the data sets are compared
// element by element (sameElements) instead of byte for byte, for senders
// that re-encode sequence lengths.
func checkStoredAs(t testing.TB, b objstore.Bucket, files []instanceFile, callingAE string, exact bool) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range files {
		key := f.key(t)
		got := getObject(t, b, key)
		out[key] = got
		p, err := dimse.ReadPart10(bytes.NewReader(got), int64(len(got)))
		if err != nil {
			t.Errorf("%s: stored object: %v", filepath.Base(f.path), err)
			continue
		}
		if exact && !bytes.Equal(got[p.DataSetOffset:], f.dataSet) {
			t.Errorf("%s: stored data set differs from the sent one (%d vs %d bytes)", filepath.Base(f.path), len(got)-int(p.DataSetOffset), len(f.dataSet))
		}
		if orig, err := os.ReadFile(f.path); err != nil {
			t.Error(err)
		} else if err := sameElements(orig, got); err != nil {
			t.Errorf("%s: stored data set differs from the file: %v", filepath.Base(f.path), err)
		}
		if p.TransferSyntaxUID != f.syntax || p.SOPClassUID != f.sopClass || p.SOPInstanceUID != f.sopInstance {
			t.Errorf("%s: file meta %+v", filepath.Base(f.path), p)
		}
		o, err := dicomx.ReadMeta(bytes.NewReader(got), int64(len(got)), dicomx.Options{})
		if err != nil {
			t.Errorf("%s: stored object unreadable: %v", filepath.Base(f.path), err)
			continue
		}
		if callingAE != "" {
			if ae := o.Meta.Str(dicomx.TagSourceApplicationEntityTitle); ae != callingAE {
				t.Errorf("%s: source AE %q, want %q", filepath.Base(f.path), ae, callingAE)
			}
			if uid := o.Meta.Str(dicomx.TagImplementationClassUID); uid != dimse.ImplementationClassUID {
				t.Errorf("%s: implementation class %q", filepath.Base(f.path), uid)
			}
		}
		if o.Dataset.Str(dicomx.TagSOPInstanceUID) != f.sopInstance {
			t.Errorf("%s: data set SOP instance differs", filepath.Base(f.path))
		}
	}
	return out
}

// noLeftovers checks that no temporary or spool file remains.
func noLeftovers(t testing.TB, e *env) {
	t.Helper()
	if ents, _ := os.ReadDir(e.spoolDir); len(ents) != 0 {
		t.Errorf("%d files left in the spool directory", len(ents))
	}
	if d, ok := e.bucket.(interface{ Dir() string }); ok {
		if ents, _ := os.ReadDir(filepath.Join(d.Dir(), dirstore.TmpDir)); len(ents) != 0 {
			t.Errorf("%d temporary files left in the store", len(ents))
		}
	}
}

func stowConfigUnauth() stow.Config { return stow.Config{AllowUnauthenticated: true} }

var httpClient = &http.Client{}

func zeroLog() zerolog.Logger { return zerolog.Nop() }

// readDataSet parses a whole object (bulk values loaded) with dicomx.
func readDataSet(b []byte) (*dicomx.Dataset, error) {
	rd, err := dicomx.NewReader(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
	if err != nil {
		return nil, err
	}
	return rd.ReadAll()
}

// sameElements compares two objects element by element with dicomx: tags,
// VRs and value bytes at every depth, after inflation, ignoring group
// lengths, Data Set Trailing Padding (which has no meaning and which dcmtk
// drops when sending) and whether sequences and items were sent with
// explicit or undefined lengths (dcmtk re-encodes those).
func sameElements(a, b []byte) error {
	da, err := readDataSet(a)
	if err != nil {
		return fmt.Errorf("first object: %w", err)
	}
	db, err := readDataSet(b)
	if err != nil {
		return fmt.Errorf("second object: %w", err)
	}
	return compareSets(da, db, "")
}

func compareSets(a, b *dicomx.Dataset, path string) error {
	ea, eb := significant(a), significant(b)
	if len(ea) != len(eb) {
		return fmt.Errorf("%s: %d elements vs %d", path, len(ea), len(eb))
	}
	for i := range ea {
		x, y := ea[i], eb[i]
		where := path + x.Tag.String()
		// Encapsulated pixel data is OB (PS3.5 A.4); some files say OW and
		// dcmtk corrects it when sending.
		fixedVR := x.Encapsulated && y.Encapsulated && x.Tag == dicomx.TagPixelData
		if x.Tag != y.Tag || (x.VR != y.VR && !fixedVR) {
			return fmt.Errorf("%s: %s %s vs %s %s", where, x.Tag, x.VR, y.Tag, y.VR)
		}
		if !bytes.Equal(x.Value, y.Value) {
			return fmt.Errorf("%s: values differ (%d vs %d bytes)", where, len(x.Value), len(y.Value))
		}
		if len(x.Items) != len(y.Items) {
			return fmt.Errorf("%s: %d items vs %d", where, len(x.Items), len(y.Items))
		}
		for j := range x.Items {
			if err := compareSets(x.Items[j], y.Items[j], fmt.Sprintf("%s[%d]", where, j)); err != nil {
				return err
			}
		}
	}
	return nil
}

func significant(d *dicomx.Dataset) []*dicomx.Element {
	var out []*dicomx.Element
	for _, e := range d.Elements {
		if !e.Tag.IsGroupLength() && e.Tag != dicomx.TagDataSetTrailingPadding {
			out = append(out, e)
		}
	}
	return out
}

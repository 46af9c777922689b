package receive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/stow"
	"github.com/printreg/printreg/pkg/tlsconf"
)

func TestObjectKey(t *testing.T) {
	k := testKey(t)
	study, series, sop := "1.2.840.113619.2.1", "1.2.840.113619.2.1.2", "1.2.840.113619.2.1.2.3"
	key := ObjectKey(k, DefaultKeyPrefix, study, series, sop)
	if !regexp.MustCompile(`^pacs/[0-9a-f]{32}/[0-9a-f]{32}/[0-9a-f]{32}\.dcm$`).MatchString(key) {
		t.Fatalf("key %q has not the documented shape", key)
	}
	if key != ObjectKey(k, DefaultKeyPrefix, study, series, sop) {
		t.Fatal("key is not deterministic")
	}
	for _, uid := range []string{study, series, sop, "113619"} {
		if strings.Contains(key, uid) {
			t.Fatalf("key carries an identifier: %s", key)
		}
	}
	// Each level is hashed in its own domain: the same UID at two levels
	// gives unrelated hashes, and one instance of a series shares its prefix.
	same := ObjectKey(k, "", "1.2.3", "1.2.3", "1.2.3")
	parts := strings.Split(strings.TrimSuffix(same, ".dcm"), "/")
	if parts[0] == parts[1] || parts[1] == parts[2] {
		t.Fatalf("levels share a hash: %s", same)
	}
	other := ObjectKey(k, DefaultKeyPrefix, study, series, sop+".1")
	if other[:len("pacs/")+66] != key[:len("pacs/")+66] || other == key {
		t.Fatalf("instances of one series do not share the study/series prefix: %s %s", key, other)
	}
}

// storableGroups are real files in every transfer syntax the receiver
// takes. The MR_small files are one instance in several syntaxes (one SOP
// instance UID, so one key): each goes to its own store.
func storableGroups(t testing.TB) [][]string {
	first := seriesFiles(t, "series_pydicom_CT5N_5slices")
	for _, f := range []string{
		"pydicom/JPEG-lossy.dcm", // JPEG extended
		"pydicom/image_dfl.dcm",  // deflated
		"pydicom/CT_small.dcm",   // explicit little endian
		"dicompyler/ct.0.dcm",    // implicit little endian, 512x512
		"dicomParser/CT0012.fragmented_no_bot_jpeg_lossless.57.dcm",
		"dicomParser/CT1_UNC.explicit_big_endian.dcm",
		"dicompyler/rtplan.dcm", // RT Plan, a non-image storage class
	} {
		first = append(first, filepath.Join(testdata, f))
	}
	groups := [][]string{first}
	for _, f := range []string{
		"dicomParser/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm", // fragmented JPEG-LS
		"dicomParser/CT0012.not_fragmented_bot_rle.dcm",     // multi-frame RLE
		"pydicom/MR_small_jpeg_ls_lossless.dcm",             // JPEG-LS
		"pydicom/MR_small_RLE.dcm",                          // RLE
		"pydicom/MR_small_jp2klossless.dcm",                 // JPEG 2000
		"pydicom/MR_small_bigendian.dcm",                    // explicit big endian
		"pydicom/MR_small_implicit.dcm",                     // implicit little endian
	} {
		groups = append(groups, []string{filepath.Join(testdata, f)})
	}
	return groups
}

func contextsFor(files []instanceFile) []dimse.ContextRQ {
	seen := map[[2]string]bool{}
	out := []dimse.ContextRQ{{AbstractSyntax: dimse.VerificationSOPClass, TransferSyntaxes: []string{dicomx.ImplicitVRLittleEndian}}}
	for _, f := range files {
		k := [2]string{f.sopClass, f.syntax}
		if !seen[k] {
			seen[k] = true
			out = append(out, dimse.ContextRQ{AbstractSyntax: f.sopClass, TransferSyntaxes: []string{f.syntax}})
		}
	}
	return out
}

func TestCStoreEveryTransferSyntax(t *testing.T) {
	for _, group := range storableGroups(t) {
		t.Run(filepath.Base(group[len(group)-1]), func(t *testing.T) {
			e := startEnv(t, testConfig(t), newDirBucket(t))
			var files []instanceFile
			seen := map[string]bool{}
			for _, p := range group {
				f := loadInstance(t, p)
				if seen[f.sopInstance] {
					t.Fatalf("%s repeats a SOP instance UID of its group", p)
				}
				seen[f.sopInstance] = true
				files = append(files, f)
			}
			c, err := dimse.Dial(context.Background(), e.dimse, dimse.ClientConfig{CallingAE: "GOSCU", CalledAE: "PRINTREG",
				Contexts: contextsFor(files), MaxPDULength: 16384})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				res, err := c.StoreFile(context.Background(), f.path)
				if err != nil || !res.Status.IsSuccess() {
					t.Fatalf("%s: %+v %v", f.path, res, err)
				}
			}
			if err := c.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkStored(t, e.bucket, files, "GOSCU")
			if n := len(objects(t, e.bucket)); n != len(files) {
				t.Errorf("%d objects for %d files", n, len(files))
			}
			noLeftovers(t, e)
		})
	}
}

// part10 builds a small Part 10 object in explicit VR little endian (or ts).
func part10(t testing.TB, ts string, elems ...*dicomx.Element) []byte {
	t.Helper()
	ds := &dicomx.Dataset{}
	for _, el := range elems {
		ds.Set(el)
	}
	meta := &dicomx.Dataset{}
	meta.Set(dicomx.NewBytes(dicomx.TagFileMetaInformationVersion, dicomx.VROB, []byte{0, 1}))
	meta.Set(dicomx.NewText(dicomx.TagMediaStorageSOPClassUID, dicomx.VRUI, ds.Str(dicomx.TagSOPClassUID)))
	meta.Set(dicomx.NewText(dicomx.TagMediaStorageSOPInstanceUID, dicomx.VRUI, ds.Str(dicomx.TagSOPInstanceUID)))
	meta.Set(dicomx.NewText(dicomx.TagTransferSyntaxUID, dicomx.VRUI, ts))
	var buf bytes.Buffer
	w := dicomx.NewWriter(&buf, dicomx.SyntaxFor(ts))
	if err := w.WriteFileHeader(nil, meta); err != nil {
		t.Fatal(err)
	}
	for _, el := range ds.Elements {
		if err := w.WriteElement(el); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func uidEl(tag dicomx.Tag, v string) *dicomx.Element { return dicomx.NewText(tag, dicomx.VRUI, v) }

// synthetic returns a minimal CT instance; drop removes elements.
func synthetic(t testing.TB, sop string, drop ...dicomx.Tag) []byte {
	els := []*dicomx.Element{
		uidEl(dicomx.TagSOPClassUID, dicomx.CTImageStorage), uidEl(dicomx.TagSOPInstanceUID, sop),
		uidEl(dicomx.TagStudyInstanceUID, "1.2.826.0.1.3680043.2.1.1"), uidEl(dicomx.TagSeriesInstanceUID, "1.2.826.0.1.3680043.2.1.1.1"),
		dicomx.NewText(dicomx.TagModality, dicomx.VRCS, "CT"),
	}
	var keep []*dicomx.Element
	for _, el := range els {
		if !containsTag(drop, el.Tag) {
			keep = append(keep, el)
		}
	}
	return part10(t, dicomx.ExplicitVRLittleEndian, keep...)
}

func containsTag(ts []dicomx.Tag, t dicomx.Tag) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func dataSetOf(t testing.TB, b []byte) []byte {
	p, err := dimse.ReadPart10(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return b[p.DataSetOffset:]
}

func TestCStoreFailures(t *testing.T) {
	ctCtx := []dimse.ContextRQ{{AbstractSyntax: dicomx.CTImageStorage, TransferSyntaxes: []string{dicomx.ExplicitVRLittleEndian}}}
	cases := []struct {
		name    string
		sop     string // command SOP instance UID
		data    []byte
		failPut bool
		maxObj  int64
		want    dicomstatus.Code
	}{
		{name: "unparseable data set", sop: "1.2.3.1", data: []byte("\x08\x00\x18\x00UI\xff\xffgarbage"), want: dicomstatus.CannotUnderstand},
		{name: "instance UID differs from the command", sop: "1.2.3.2", data: dataSetOf(t, synthetic(t, "1.2.3.99")), want: dicomstatus.DataSetMismatch},
		{name: "no study UID", sop: "1.2.3.3", data: dataSetOf(t, synthetic(t, "1.2.3.3", dicomx.TagStudyInstanceUID)), want: dicomstatus.DataSetMismatch},
		{name: "no series UID", sop: "1.2.3.4", data: dataSetOf(t, synthetic(t, "1.2.3.4", dicomx.TagSeriesInstanceUID)), want: dicomstatus.DataSetMismatch},
		{name: "store refuses the put", sop: "1.2.3.5", data: dataSetOf(t, synthetic(t, "1.2.3.5")), failPut: true, want: dicomstatus.OutOfResources},
		{name: "over the size limit", sop: "1.2.3.6", data: dataSetOf(t, synthetic(t, "1.2.3.6")), maxObj: 64, want: dicomstatus.OutOfResources},
		{name: "good", sop: "1.2.3.7", data: dataSetOf(t, synthetic(t, "1.2.3.7")), want: dicomstatus.Success},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &flakyBucket{Bucket: newDirBucket(t)}
			b.failPut.Store(c.failPut)
			cfg := testConfig(t)
			cfg.DIMSE.MaxObjectBytes = confval.ByteSize(c.maxObj)
			e := startEnv(t, cfg, b)
			cl, err := dimse.Dial(context.Background(), e.dimse, dimse.ClientConfig{CallingAE: "GOSCU", Contexts: ctCtx})
			if err != nil {
				t.Fatal(err)
			}
			res, err := cl.Store(context.Background(), dicomx.CTImageStorage, c.sop, dicomx.ExplicitVRLittleEndian, bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.want {
				t.Errorf("status %v (%s), want %v", res.Status, res.Comment, c.want)
			}
			cl.Release(context.Background())
			e.stop()
			n := len(objects(t, b))
			if c.want.IsSuccess() != (n == 1) {
				t.Errorf("%d objects stored", n)
			}
			noLeftovers(t, e)
		})
	}
}

func TestStoreOutageRefusesAssociations(t *testing.T) {
	b := &flakyBucket{Bucket: newDirBucket(t)}
	cfg := testConfig(t)
	cfg.ReadyCacheTTL = time.Nanosecond
	e := startEnv(t, cfg, b)
	ctx := context.Background()
	cc := dimse.ClientConfig{CallingAE: "GOSCU", Contexts: []dimse.ContextRQ{{AbstractSyntax: dimse.VerificationSOPClass, TransferSyntaxes: []string{dicomx.ImplicitVRLittleEndian}}}}
	b.unhealthy.Store(true)
	_, err := dimse.Dial(ctx, e.dimse, cc)
	var rj *dimse.AssociateRJ
	if !errors.As(err, &rj) || rj.Result != dimse.RejectTransient || rj.Reason != dimse.RejectTemporaryCongestion {
		t.Fatalf("association during an outage: %v", err)
	}
	b.unhealthy.Store(false)
	c, err := dimse.Dial(ctx, e.dimse, cc)
	if err != nil {
		t.Fatalf("association after the outage: %v", err)
	}
	c.Release(ctx)
}

func TestAbortMidInstanceLeavesNothing(t *testing.T) {
	b := newDirBucket(t)
	e := startEnv(t, testConfig(t), b)
	f := loadInstance(t, filepath.Join(testdata, "dicompyler/ct.0.dcm"))
	c, err := dimse.Dial(context.Background(), e.dimse, dimse.ClientConfig{CallingAE: "GOSCU", MaxPDULength: 4096,
		Contexts: contextsFor([]instanceFile{f})})
	if err != nil {
		t.Fatal(err)
	}
	// Send the command and half the data set by hand, then abort.
	half := &abortingReader{r: bytes.NewReader(f.dataSet), left: len(f.dataSet) / 2, abort: c.Abort}
	_, err = c.Store(context.Background(), f.sopClass, f.sopInstance, f.syntax, half)
	if err == nil {
		t.Fatal("store after an abort succeeded")
	}
	e.stop()
	if keys := objects(t, b); len(keys) != 0 {
		t.Fatalf("objects after an aborted transfer: %v", keys)
	}
	noLeftovers(t, e)
}

// abortingReader yields left bytes, then aborts the association.
type abortingReader struct {
	r     io.Reader
	left  int
	abort func()
}

func (a *abortingReader) Read(p []byte) (int, error) {
	if a.left <= 0 {
		a.abort()
		return 0, errors.New("aborted on purpose")
	}
	if len(p) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= n
	return n, err
}

func TestConfigErrors(t *testing.T) {
	b := newDirBucket(t)
	cases := []struct {
		name string
		cfg  Config
	}{
		{"key prefix absolute", Config{KeyPrefix: "/pacs/", STOW: stowConfigUnauth()}},
		{"spool dir missing", Config{SpoolDir: "/nonexistent/spool", STOW: stowConfigUnauth()}},
		{"STOW without authentication", Config{STOW: stow.Config{Listen: "127.0.0.1:0"}}},
		{"STOW TLS without authentication", Config{STOW: stow.Config{TLS: tlsconf.Config{CertFile: "c", KeyFile: "k"}}}},
		{"bad DIMSE AE", Config{DIMSE: dimse.Config{AETitles: []string{"WAY_TOO_LONG_AE_TITLE"}}, STOW: stowConfigUnauth()}},
	}
	for _, c := range cases {
		if _, err := New(c.cfg, b, testKey(t), zeroLog()); err == nil {
			t.Errorf("%s: New succeeded", c.name)
		}
	}
	if _, err := New(Config{STOW: stowConfigUnauth()}, nil, testKey(t), zeroLog()); err == nil {
		t.Error("New without a bucket succeeded")
	}
}

// TestDIMSEOnlyNeedsNoSTOWAuthentication: a receiver without a STOW-RS
// listen address or settings serves C-STORE and has no STOW-RS endpoint.
func TestDIMSEOnlyNeedsNoSTOWAuthentication(t *testing.T) {
	r, err := New(Config{SpoolDir: t.TempDir(), DIMSE: dimse.Config{Listen: "127.0.0.1:0"}}, newDirBucket(t), testKey(t), zeroLog())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if r.STOW() != nil {
		t.Error("a STOW-RS endpoint was built without being configured")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ServeSTOW(context.Background(), ln); err == nil {
		t.Error("ServeSTOW without a STOW-RS configuration succeeded")
	}
}

// TestServeStopsOnFirstFailure: Serve with no listener is an error; when
// one front door fails (here STOW-RS, which is not configured) the other
// stops too and Serve returns that failure.
func TestServeStopsOnFirstFailure(t *testing.T) {
	r, err := New(Config{SpoolDir: t.TempDir(), DIMSE: dimse.Config{Listen: "127.0.0.1:0"}}, newDirBucket(t), testKey(t), zeroLog())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Serve(context.Background(), nil, nil); err == nil {
		t.Error("Serve without listeners succeeded")
	}
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(context.Background(), dl, sl); err == nil || !strings.Contains(err.Error(), "STOW-RS is not configured") {
		t.Errorf("Serve with a failing STOW-RS front door: %v", err)
	}
}

func TestSpoolIsUnlinked(t *testing.T) {
	e := startEnv(t, testConfig(t), newDirBucket(t))
	sp, err := e.r.newSpool(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if ents, _ := os.ReadDir(e.spoolDir); len(ents) != 0 {
		t.Fatalf("spool file visible in the spool directory")
	}
}

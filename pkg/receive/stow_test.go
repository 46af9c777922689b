package receive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
)

// multipartBody builds a STOW-RS body from whole Part 10 objects.
func multipartBody(objs ...[]byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, o := range objs {
		pw, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		pw.Write(o)
	}
	w.Close()
	return &buf, `multipart/related; type="application/dicom"; boundary=` + w.Boundary()
}

type stowResult struct {
	code       int
	referenced []string // SOP instance UIDs
	failed     map[string]int
}

func stowPost(t testing.TB, url string, body io.Reader, ctype string) stowResult {
	t.Helper()
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	res := stowResult{code: resp.StatusCode, failed: map[string]int{}}
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/dicom+json" {
		return res
	}
	var doc map[string]struct {
		Value []map[string]struct {
			Value []any `json:"Value"`
		} `json:"Value"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("response: %v\n%s", err, b)
	}
	for _, it := range doc["00081199"].Value {
		res.referenced = append(res.referenced, it["00081155"].Value[0].(string))
	}
	for i, it := range doc["00081198"].Value {
		uid := fmt.Sprintf("#%d", i)
		if v := it["00081155"].Value; len(v) > 0 {
			uid = v[0].(string)
		}
		res.failed[uid] = int(it["00081197"].Value[0].(float64))
	}
	return res
}

func readFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSTOWStoresInstancesAsSent(t *testing.T) {
	b := newDirBucket(t)
	e := startEnv(t, testConfig(t), b)
	paths := append(seriesFiles(t, "series_pydicom_CT5N_5slices"),
		filepath.Join(testdata, "pydicom/MR_small_jpeg_ls_lossless.dcm"),
		filepath.Join(testdata, "pydicom/image_dfl.dcm"),
		filepath.Join(testdata, "dicomParser/CT0012.not_fragmented_bot_rle.dcm"))
	var objs [][]byte
	var files []instanceFile
	for _, p := range paths {
		objs = append(objs, readFile(t, p))
		files = append(files, loadInstance(t, p))
	}
	body, ct := multipartBody(objs...)
	res := stowPost(t, e.stowURL+"/studies", body, ct)
	if res.code != 200 || len(res.referenced) != len(paths) || len(res.failed) != 0 {
		t.Fatalf("STOW-RS: %+v", res)
	}
	for i, f := range files {
		if res.referenced[i] != f.sopInstance {
			t.Errorf("referenced[%d] = %s, want %s", i, res.referenced[i], f.sopInstance)
		}
		// STOW-RS sends Part 10 files: they are stored byte for byte.
		if got := getObject(t, b, f.key(t)); !bytes.Equal(got, objs[i]) {
			t.Errorf("%s: stored object differs from the posted file", filepath.Base(f.path))
		}
	}
	noLeftovers(t, e)
}

func TestSTOWFailures(t *testing.T) {
	ct5 := seriesFiles(t, "series_pydicom_CT5N_5slices")
	ctStudy := loadInstance(t, ct5[0]).study
	mr := filepath.Join(testdata, "pydicom/MR_small.dcm")
	unknownClass := part10(t, dicomx.ExplicitVRLittleEndian,
		uidEl(dicomx.TagSOPClassUID, "1.2.826.0.1.3680043.9.9999.1"), uidEl(dicomx.TagSOPInstanceUID, "1.2.826.0.1.3680043.2.2.1"),
		uidEl(dicomx.TagStudyInstanceUID, "1.2.826.0.1.3680043.2.2"), uidEl(dicomx.TagSeriesInstanceUID, "1.2.826.0.1.3680043.2.2.2"))
	oddSyntax := part10(t, "1.2.826.0.1.3680043.9.9999.2",
		uidEl(dicomx.TagSOPClassUID, dicomx.CTImageStorage), uidEl(dicomx.TagSOPInstanceUID, "1.2.826.0.1.3680043.2.3.1"),
		uidEl(dicomx.TagStudyInstanceUID, "1.2.826.0.1.3680043.2.3"), uidEl(dicomx.TagSeriesInstanceUID, "1.2.826.0.1.3680043.2.3.2"))
	cases := []struct {
		name   string
		path   string
		objs   [][]byte
		code   int
		stored int
		fails  []int
	}{
		{name: "instance of another study than the URL", path: "/studies/" + ctStudy,
			objs: [][]byte{readFile(t, ct5[0]), readFile(t, mr)}, code: 202, stored: 1, fails: []int{0xA900}},
		{name: "SOP class not storage", path: "/studies", objs: [][]byte{unknownClass}, code: 409, fails: []int{0x0122}},
		{name: "transfer syntax not accepted", path: "/studies", objs: [][]byte{oddSyntax}, code: 409, fails: []int{0xC122}},
		{name: "file meta and data set disagree", path: "/studies",
			objs: [][]byte{readFile(t, filepath.Join(testdata, "pydicom/rtplan.dcm"))}, code: 409, fails: []int{0xA900}},
		{name: "bare data set without file meta", path: "/studies",
			objs: [][]byte{readFile(t, filepath.Join(testdata, "pydicom/no_meta.dcm"))}, code: 409, fails: []int{0xC000}},
		{name: "truncated instance", path: "/studies",
			objs: [][]byte{readFile(t, filepath.Join(testdata, "pydicom/MR_truncated.dcm"))}, code: 409, fails: []int{0xC000}},
		{name: "not DICOM", path: "/studies", objs: [][]byte{[]byte("%PDF-1.4 not an image")}, code: 409, fails: []int{0xC000}},
		{name: "missing study UID", path: "/studies", objs: [][]byte{synthetic(t, "1.2.826.0.1.3680043.2.4.1", dicomx.TagStudyInstanceUID)},
			code: 409, fails: []int{0xA900}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newDirBucket(t)
			e := startEnv(t, testConfig(t), b)
			body, ct := multipartBody(c.objs...)
			res := stowPost(t, e.stowURL+c.path, body, ct)
			if res.code != c.code || len(res.referenced) != c.stored || len(res.failed) != len(c.fails) {
				t.Fatalf("%+v", res)
			}
			var got []int
			for _, v := range res.failed {
				got = append(got, v)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.fails) {
				t.Errorf("failure reasons %v, want %v", got, c.fails)
			}
			if n := len(objects(t, b)); n != c.stored {
				t.Errorf("%d objects in the store", n)
			}
			noLeftovers(t, e)
		})
	}
}

func TestSTOWStoreFailures(t *testing.T) {
	fb := &flakyBucket{Bucket: newDirBucket(t)}
	cfg := testConfig(t)
	cfg.ReadyCacheTTL = time.Nanosecond
	e := startEnv(t, cfg, fb)
	obj := readFile(t, seriesFiles(t, "series_pydicom_CT5N_5slices")[0])

	fb.unhealthy.Store(true)
	body, ct := multipartBody(obj)
	if res := stowPost(t, e.stowURL+"/studies", body, ct); res.code != 503 {
		t.Fatalf("store down: %+v", res)
	}
	fb.unhealthy.Store(false)
	fb.failPut.Store(true)
	body, ct = multipartBody(obj)
	if res := stowPost(t, e.stowURL+"/studies", body, ct); res.code != 409 || len(res.failed) != 1 {
		t.Fatalf("put refused: %+v", res)
	}
	fb.failPut.Store(false)
	body, ct = multipartBody(obj)
	if res := stowPost(t, e.stowURL+"/studies", body, ct); res.code != 200 {
		t.Fatalf("after recovery: %+v", res)
	}
	noLeftovers(t, e)
}

// cutBody yields n bytes, then fails like a dropped connection.
type cutBody struct {
	r *bytes.Reader
	n int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("connection dropped")
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	m, err := c.r.Read(p)
	c.n -= m
	return m, err
}

func TestSTOWDroppedRequestStoresNoPartial(t *testing.T) {
	b := newDirBucket(t)
	e := startEnv(t, testConfig(t), b)
	big := readFile(t, filepath.Join(testdata, "dicompyler/ct.0.dcm"))
	small := readFile(t, seriesFiles(t, "series_pydicom_CT5N_5slices")[0])
	body, ct := multipartBody(small, big)
	raw := body.Bytes()
	// Cut inside the second (large) part.
	req, _ := http.NewRequest("POST", e.stowURL+"/studies", &cutBody{r: bytes.NewReader(raw), n: len(raw) - len(big)/2})
	req.Header.Set("Content-Type", ct)
	req.ContentLength = int64(len(raw))
	if resp, err := httpClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// Wait for the server to finish with the request.
	for i := 0; i < 500 && e.r.STOW().Stats().Stored+e.r.STOW().Stats().Failed < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	e.stop()
	keys := objects(t, b)
	if len(keys) != 1 || keys[0] != loadInstance(t, seriesFiles(t, "series_pydicom_CT5N_5slices")[0]).key(t) {
		t.Fatalf("objects after a dropped request: %v", keys)
	}
	noLeftovers(t, e)
}

func TestSameKeyFromBothProtocols(t *testing.T) {
	b := newDirBucket(t)
	e := startEnv(t, testConfig(t), b)
	p := seriesFiles(t, "series_pydicom_CT5N_5slices")[0]
	body, ct := multipartBody(readFile(t, p))
	if res := stowPost(t, e.stowURL+"/studies", body, ct); res.code != 200 {
		t.Fatal(res)
	}
	f := loadInstance(t, p)
	c, err := dimse.Dial(t.Context(), e.dimse, dimse.ClientConfig{CallingAE: "GOSCU", Contexts: contextsFor([]instanceFile{f})})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.StoreFile(t.Context(), p); err != nil || !res.Status.IsSuccess() {
		t.Fatal(res, err)
	}
	c.Release(t.Context())
	if keys := objects(t, b); len(keys) != 1 || keys[0] != f.key(t) {
		t.Fatalf("keys %v", keys)
	}
}

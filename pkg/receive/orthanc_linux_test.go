package receive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
)

const orthancDicomWebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

// orthanc is an Orthanc process driven through its REST API.
type orthanc struct {
	base   string
	client *http.Client
	cmd    *exec.Cmd
	log    string
}

func (o *orthanc) call(t testing.TB, method, path string, body []byte, ctype string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, o.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: HTTP %d\n%s\n--- Orthanc log ---\n%s", method, path, resp.StatusCode, out, o.tail())
	}
	return out
}

func (o *orthanc) tail() string {
	b, _ := os.ReadFile(o.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// TestOrthancForwardsBothWays starts Orthanc with printreg configured as a
// DICOM modality and as a DICOMweb server, uploads a study through its REST
// API, and has it forward the study by C-STORE and by STOW-RS.
func TestOrthancForwardsBothWays(t *testing.T) {
	bin := testenv.Binary(t, "Orthanc")
	if _, err := os.Stat(orthancDicomWebPlugin); err != nil {
		msg := "Orthanc DICOMweb plugin not installed (Debian: apt-get install orthanc-dicomweb)"
		if os.Getenv(testenv.EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	listen := func(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }
	dial := (&net.Dialer{}).DialContext
	var ns *netns
	if n, err := newNetns(); err == nil {
		ns = n
		defer ns.close()
		listen, dial = ns.listen, ns.dial
	} else {
		// Without a private namespace Orthanc's ports are bound on every
		// interface; its HTTP server refuses remote clients and its DICOM
		// server stays off.
		t.Logf("no private network namespace (%v): Orthanc runs with remote access refused", err)
	}

	dir := t.TempDir()
	token := "orthanc-forwarding-token-" + testenv.RandomSecret(8)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One receiver per path, so each store shows what that path delivered.
	dimseBucket, stowBucket := newDirBucket(t), newDirBucket(t)
	dcfg := testConfig(t)
	dcfg.DIMSE.AETitles = []string{"PRINTREG"}
	dcfg.DIMSE.Sources = []dimse.Source{{AETitle: "ORTHANC", Networks: []string{"127.0.0.1"}}}
	ed := startEnvOn(t, dcfg, dimseBucket, listen)
	scfg := testConfig(t)
	scfg.STOW.AllowUnauthenticated = false
	scfg.STOW.TokensFile = tokens
	es := startEnvOn(t, scfg, stowBucket, listen)

	// A free port for Orthanc's HTTP server, found where it will run.
	pl, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpPort := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	_, dimsePort := hostPort(t, ed.dimse)
	dport, _ := strconv.Atoi(dimsePort)
	conf := map[string]any{
		"Name":                  "printreg-interop",
		"StorageDirectory":      filepath.Join(dir, "db"),
		"IndexDirectory":        filepath.Join(dir, "db"),
		"StorageCompression":    false,
		"HttpServerEnabled":     true,
		"HttpPort":              httpPort,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"DicomServerEnabled":    false,
		"DicomAet":              "ORTHANC",
		"SaveJobs":              false,
		"Plugins":               []string{orthancDicomWebPlugin},
		"DicomModalities": map[string]any{
			"printreg": map[string]any{"AET": "PRINTREG", "Host": "127.0.0.1", "Port": dport},
		},
		"DicomWeb": map[string]any{
			"Enable": true, "Root": "/dicom-web/",
			"Servers": map[string]any{
				"printreg": map[string]any{
					"Url":         es.stowURL + "/",
					"HttpHeaders": map[string]string{"Authorization": "Bearer " + token},
				},
			},
		},
	}
	cb, _ := json.MarshalIndent(conf, "", "  ")
	confPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(confPath, cb, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &orthanc{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), log: filepath.Join(dir, "orthanc.log"),
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: dial}}}
	logf, err := os.Create(o.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	o.cmd = exec.Command(bin, confPath)
	o.cmd.Stdout, o.cmd.Stderr = logf, logf
	o.cmd.Dir = dir
	var startErr error
	if ns != nil {
		ns.do(func() { startErr = o.cmd.Start() })
	} else {
		startErr = o.cmd.Start()
	}
	if startErr != nil {
		t.Fatalf("starting Orthanc: %v", startErr)
	}
	exited := make(chan struct{})
	go func() { o.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		o.cmd.Process.Kill()
		<-exited
	})
	if err := waitOrthanc(o, exited); err != nil {
		t.Fatalf("Orthanc did not start: %v\n%s", err, o.tail())
	}
	if ns != nil {
		// Isolated: nothing outside the namespace reaches Orthanc.
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(httpPort), time.Second); err == nil {
			c.Close()
			t.Fatal("Orthanc reachable from outside its network namespace")
		}
		t.Log("Orthanc and the receivers run in a private network namespace")
	}

	// Upload a CT series and a JPEG-LS instance of another study.
	paths := append(seriesFiles(t, "series_pydicom_CT5N_5slices"), filepath.Join(testdata, "pydicom/MR_small_jpeg_ls_lossless.dcm"))
	studies := map[string]bool{}
	var files []instanceFile
	for _, p := range paths {
		var ans struct{ ParentStudy string }
		if err := json.Unmarshal(o.call(t, "POST", "/instances", readFile(t, p), "application/dicom"), &ans); err != nil {
			t.Fatal(err)
		}
		studies[ans.ParentStudy] = true
		files = append(files, loadInstance(t, p))
	}
	var resources []string
	for s := range studies {
		resources = append(resources, s)
	}
	req, _ := json.Marshal(map[string]any{"Resources": resources, "Synchronous": true})

	t.Run("C-STORE", func(t *testing.T) {
		out := o.call(t, "POST", "/modalities/printreg/store", req, "application/json")
		var ans struct{ InstancesCount, FailedInstancesCount int }
		json.Unmarshal(out, &ans)
		if ans.FailedInstancesCount != 0 {
			t.Fatalf("Orthanc reports failures: %s", out)
		}
		checkStoredAs(t, dimseBucket, files, "ORTHANC", false)
		if n := len(objects(t, dimseBucket)); n != len(files) {
			t.Errorf("%d objects for %d instances", n, len(files))
		}
		if s := ed.r.DIMSE().Stats(); s.Stored != uint64(len(files)) || s.Failed != 0 {
			t.Errorf("receiver stats %+v", s)
		}
	})
	t.Run("STOW-RS", func(t *testing.T) {
		o.call(t, "POST", "/dicom-web/servers/printreg/stow", req, "application/json")
		checkStoredAs(t, stowBucket, files, "", false)
		if n := len(objects(t, stowBucket)); n != len(files) {
			t.Errorf("%d objects for %d instances", n, len(files))
		}
		if s := es.r.STOW().Stats(); s.Stored != uint64(len(files)) || s.Failed != 0 {
			t.Errorf("STOW-RS stats %+v", s)
		}
	})
	t.Run("STOW-RS with a wrong token is refused", func(t *testing.T) {
		before, st := len(objects(t, stowBucket)), es.r.STOW().Stats()
		conf["DicomWeb"].(map[string]any)["Servers"] = map[string]any{"printreg": map[string]any{
			"Url": es.stowURL + "/", "HttpHeaders": map[string]string{"Authorization": "Bearer not-the-token-0123456789"}}}
		body, _ := json.Marshal(conf["DicomWeb"].(map[string]any)["Servers"].(map[string]any)["printreg"])
		o.call(t, "PUT", "/dicom-web/servers/printreg", body, "application/json")
		r2, _ := http.NewRequest("POST", o.base+"/dicom-web/servers/printreg/stow", bytes.NewReader(req))
		resp, err := o.client.Do(r2)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("forwarding with a wrong token succeeded: %s", msg)
		}
		after := es.r.STOW().Stats()
		if after.Requests == st.Requests || after.Stored != st.Stored || len(objects(t, stowBucket)) != before {
			t.Fatalf("wrong token: requests %d→%d, stored %d→%d", st.Requests, after.Requests, st.Stored, after.Stored)
		}
	})
	for _, e := range []*env{ed, es} {
		e.stop()
		noLeftovers(t, e)
	}
	if _, err := os.Stat(filepath.Join(dimseBucket.Dir(), dirstore.TmpDir)); err != nil {
		t.Error(err)
	}
}

func waitOrthanc(o *orthanc, exited chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("Orthanc exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", o.base+"/system", nil)
		resp, err := o.client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if resp.StatusCode == 200 && strings.Contains(string(b), "Version") {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			cancel()
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

package dimse

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/dicomx"
)

var update = flag.Bool("update", false, "record testdata/pacs/storescu-ct5n.pdus again with dcmtk's storescu")

// recording is what dcmtk's storescu sent (client to server bytes) when
// storing the five-slice CT series: a real association to replay and to
// seed the fuzz targets with.
const recording = "../../testdata/pacs/storescu-ct5n.pdus"

const seriesDir = "../../testdata/dicom/series_pydicom_CT5N_5slices"

// TestReplayStorescuSession replays the recorded storescu association into
// a server: five instances stored, each answered with success, released.
func TestReplayStorescuSession(t *testing.T) {
	if *update {
		record(t)
	}
	data, err := os.ReadFile(recording)
	if err != nil {
		t.Fatalf("%v (record it with: go test ./pkg/dimse -run Replay -update)", err)
	}
	h := newMemHandler()
	srv := startServer(t, Config{AETitles: []string{"PRINTREG"}, ARTIMTimeout: 200 * time.Millisecond}, h)
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { c.Write(data) }()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	out, _ := io.ReadAll(c)
	// The answers: AC, five C-STORE-RSP, RELEASE-RP.
	rd := pduReader{r: bytes.NewReader(out)}
	var types []byte
	var statuses []dicomstatus.Code
	for {
		typ, n, err := rd.next()
		if err != nil {
			break
		}
		types = append(types, typ)
		if typ != pduPData {
			rd.body(n)
			continue
		}
		for {
			v, ok, err := rd.nextPDV()
			if err != nil || !ok {
				break
			}
			w := cmdWriter{}
			rd.payload(&w)
			if cmd, err := DecodeCommand(w.b); err == nil && v.Last {
				statuses = append(statuses, cmd.Status)
			}
		}
	}
	if len(types) != 7 || types[0] != pduAssociateAC || types[6] != pduReleaseRP {
		t.Fatalf("answer PDU types %v", types)
	}
	for i, s := range statuses {
		if s != dicomstatus.Success {
			t.Errorf("instance %d: status %v", i, s)
		}
	}
	if h.count() != 5 {
		t.Fatalf("%d instances stored, want 5", h.count())
	}
	for uid, ds := range h.stored {
		o, err := dicomx.ReadMeta(bytes.NewReader(ds), int64(len(ds)), dicomx.Options{})
		if err != nil || o.Dataset.Str(dicomx.TagSOPInstanceUID) != uid {
			t.Errorf("stored data set for %s: %v", uid, err)
		}
	}
}

// record runs storescu through a proxy that keeps what it sends.
func record(t *testing.T) {
	storescu, err := exec.LookPath("storescu")
	if err != nil {
		t.Fatal("recording needs dcmtk's storescu on PATH")
	}
	h := newMemHandler()
	srv := startServer(t, Config{ARTIMTimeout: 200 * time.Millisecond}, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var rec bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, err := ln.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := net.Dial("tcp", srv.addr)
		if err != nil {
			return
		}
		defer out.Close()
		go io.Copy(in, out)
		io.Copy(io.MultiWriter(out, &rec), in)
	}()
	files, _ := filepath.Glob(filepath.Join(seriesDir, "*.dcm"))
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-R", "-xe", "-aet", "DCMTK", "-aec", "PRINTREG", "127.0.0.1", port}, files...)
	if out, err := exec.CommandContext(ctx, storescu, args...).CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	wg.Wait()
	if err := os.MkdirAll(filepath.Dir(recording), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recording, rec.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d bytes", rec.Len())
}

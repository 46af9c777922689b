package receive

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dimse"
)

// dcmtkConfig serves the called AE PRINTREG to the calling AE DCMTK only.
func dcmtkConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.DIMSE.AETitles = []string{"PRINTREG"}
	cfg.DIMSE.Sources = []dimse.Source{{AETitle: "DCMTK", Networks: []string{"127.0.0.1/32"}}}
	return cfg
}

func hostPort(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func TestDcmtkEchoscu(t *testing.T) {
	echoscu := testenv.Binary(t, "echoscu")
	e := startEnv(t, dcmtkConfig(t), newDirBucket(t))
	host, port := hostPort(t, e.dimse)
	cases := []struct {
		name, calling, called string
		ok                    bool
		says                  string
	}{
		{"accepted", "DCMTK", "PRINTREG", true, ""},
		{"called AE not served", "DCMTK", "OTHER", false, "Called AE Title Not Recognized"},
		{"calling AE not allowed", "INTRUDER", "PRINTREG", false, "Calling AE Title Not Recognized"},
	}
	for _, c := range cases {
		out, err := run(t, echoscu, "-aet", c.calling, "-aec", c.called, host, port)
		if (err == nil) != c.ok {
			t.Errorf("%s: echoscu err=%v\n%s", c.name, err, out)
		}
		if c.says != "" && !strings.Contains(out, c.says) {
			t.Errorf("%s: echoscu output lacks %q:\n%s", c.name, c.says, out)
		}
	}
}

// dcmtkRuns are storescu runs: a multi-instance CT series, then one run
// per compressed or other transfer syntax, each proposing only that syntax
// (-R plus the syntax option), so storescu sends every file as it is.
func dcmtkRuns(t testing.TB) []struct {
	flag  string
	paths []string
} {
	in := func(files ...string) []string {
		var out []string
		for _, f := range files {
			out = append(out, filepath.Join(testdata, f))
		}
		return out
	}
	return []struct {
		flag  string
		paths []string
	}{
		{"-xe", seriesFiles(t, "series_pydicom_CT5N_5slices")},
		{"-xt", in("pydicom/MR_small_jpeg_ls_lossless.dcm", "dicomParser/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm")}, // JPEG-LS
		{"-xr", in("dicomParser/CT0012.not_fragmented_bot_rle.dcm")},                                              // RLE, multi-frame
		{"-xv", in("pydicom/MR_small_jp2klossless.dcm")},                                                          // JPEG 2000
		{"-xx", in("pydicom/JPEG-lossy.dcm")},                                                                     // JPEG extended
		{"-xd", in("pydicom/image_dfl.dcm")},                                                                      // deflated
		{"-xi", in("dicompyler/ct.0.dcm")},                                                                        // implicit VR
		{"-xb", in("dicomParser/CT1_UNC.explicit_big_endian.dcm")},                                                // big endian
	}
}

func TestDcmtkStorescuSeries(t *testing.T) {
	storescu := testenv.Binary(t, "storescu")
	dcmdump := testenv.Binary(t, "dcmdump")
	for _, r := range dcmtkRuns(t) {
		// One receiver and store per run: the MR_small files are one
		// instance in several syntaxes, hence one key.
		t.Run(r.flag, func(t *testing.T) {
			b := newDirBucket(t)
			e := startEnv(t, dcmtkConfig(t), b)
			host, port := hostPort(t, e.dimse)
			args := append([]string{"-R", r.flag, "-aet", "DCMTK", "-aec", "PRINTREG", host, port}, r.paths...)
			out, err := run(t, storescu, args...)
			if err != nil {
				t.Fatalf("storescu %s: %v\n%s", r.flag, err, out)
			}
			var files []instanceFile
			for _, p := range r.paths {
				files = append(files, loadInstance(t, p))
			}
			// storescu re-encodes sequences with explicit lengths (and
			// re-deflates): same elements, not the same bytes.
			checkStoredAs(t, b, files, "DCMTK", false)
			if n := len(objects(t, b)); n != len(files) {
				t.Errorf("%d objects for %d files", n, len(files))
			}
			for _, f := range files {
				p := filepath.Join(b.Dir(), filepath.FromSlash(f.key(t)))
				out, err := run(t, dcmdump, "-q", "+P", "0008,0018", p)
				if err != nil || !strings.Contains(out, f.sopInstance) {
					t.Errorf("dcmdump %s: %v\n%s", filepath.Base(f.path), err, out)
				}
			}
			e.stop()
			noLeftovers(t, e)
			if s := e.r.DIMSE().Stats(); s.Stored != uint64(len(files)) || s.Failed != 0 || s.Released != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

package assemble

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/pipeline"
)

func TestSpoolSpillsToDisk(t *testing.T) {
	pool := &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	for _, tc := range []struct {
		name   string
		chunks int
		onDisk bool
	}{{"memory", 3, false}, {"disk", 40, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sp := newSpool(pool, dir, 64<<10)
			var want bytes.Buffer
			for i := range tc.chunks {
				chunk := bytes.Repeat([]byte{byte(i)}, 4<<10)
				want.Write(chunk)
				if _, err := sp.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			if (sp.Bytes() == nil) != tc.onDisk || sp.Size() != int64(want.Len()) {
				t.Errorf("onDisk %v size %d, want %v %d", sp.Bytes() == nil, sp.Size(), tc.onDisk, want.Len())
			}
			for range 2 { // readable more than once (a retried upload)
				got, _ := io.ReadAll(sp.Reader())
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatal("spooled content differs")
				}
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestPrefixKeepsTheStart(t *testing.T) {
	p := &prefix{max: 5}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := p.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q = %d, %v", s, n, err)
		}
	}
	if string(p.b) != "abcde" || !p.full() {
		t.Errorf("prefix %q full %v", p.b, p.full())
	}
}

func TestKindOfName(t *testing.T) {
	for name, want := range map[string]string{
		"a/case.json": KindSidecar, "a/Model.STL": "stl", "a/x.3mf": "3mf", "a/x.obj": "obj",
		"pacs/1/2/3.dcm": KindDICOM, "pacs/IM0001": KindDICOM, "a/notes.txt": KindUnknown,
	} {
		if got := kindOfName(name); got != want {
			t.Errorf("kindOfName(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestRefusalReasons(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&deid.RefusedError{Reason: deid.ReasonBurnedIn, Detail: "x"}, pipeline.ReasonBurnedIn},
		{&deid.RefusedError{Reason: deid.ReasonBurnedInModal}, pipeline.ReasonBurnedIn},
		{&deid.RefusedError{Reason: deid.ReasonResidue}, pipeline.ReasonPHIResidue},
		{&deid.RefusedError{Reason: deid.ReasonDICOMDIR}, pipeline.ReasonUnsupported},
		{errors.New("truncated"), pipeline.ReasonMalformed},
	} {
		if got, _ := refusal(tc.err); got != tc.want {
			t.Errorf("refusal(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestRawIdentifiers reads the identifiers of the corpus files and stops
// at StudyInstanceUID.
func TestRawIdentifiers(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "dicom", "series_*", "*.dcm"))
	if len(files) == 0 {
		t.Fatal("no corpus files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ids, done, err := rawIdentifiers(bytes.NewReader(b), int64(len(b)), dicomx.Limits{})
		if err != nil || !done {
			t.Errorf("%s: done %v, %v", f, done, err)
			continue
		}
		obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ids.StudyInstanceUID != obj.Dataset.Str(dicomx.TagStudyInstanceUID) || ids.PatientID != obj.Dataset.Str(dicomx.TagPatientID) ||
			ids.PatientName != obj.Dataset.Str(dicomx.TagPatientName) || ids.AccessionNumber != obj.Dataset.Str(dicomx.TagAccessionNumber) {
			t.Errorf("%s: identifiers differ from the full read", f)
		}
		// A header cut short: an error or an incomplete read, never a panic.
		if _, done, err := rawIdentifiers(bytes.NewReader(b[:200]), -1, dicomx.Limits{}); done && err == nil {
			t.Errorf("%s: a 200-byte prefix read as complete", f)
		}
	}
}

// FuzzRawIdentifiers: any bytes give identifiers or an error, never a
// panic or an allocation beyond the input.
func FuzzRawIdentifiers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "dicom", "series_pydicom_CT5N_5slices", "*.dcm"))
	for _, p := range files[:1] {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:300])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = rawIdentifiers(bytes.NewReader(b), int64(len(b)), dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 10000})
		_, _, _ = rawIdentifiers(bytes.NewReader(b), -1, dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 10000})
	})
}

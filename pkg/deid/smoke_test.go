package deid

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// smokeExpected are the corpus files (paths relative to corpusDir, as
// path.Match patterns) that do not de-identify under the built-in
// profiles, and why. Every other corpus file must de-identify, and its
// output must read back.
var smokeExpected = []struct {
	pattern string
	reason  string // RefusedError.Reason; "" for an unreadable file
	kind    error
}{
	// Secondary Capture objects may carry burned-in text
	{"charset/chrArab.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrFren.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrFrenMulti.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrGerm.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrGreek.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrH31.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrH32.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrHbrw.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrI2.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrRuss.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrX1.dcm", ReasonBurnedInSOP, ErrRefused},
	{"charset/chrX2.dcm", ReasonBurnedInSOP, ErrRefused},
	{"pydicom/JPEG-lossy.dcm", ReasonBurnedInSOP, ErrRefused},
	{"pydicom/image_dfl.dcm", ReasonBurnedInSOP, ErrRefused},
	// a minimal data set with no SOP Instance UID
	{"pydicom/nested_priv_SQ.dcm", ReasonNoInstanceUID, ErrRefused},
	// pixel data cut short, and a stray first byte before a raw data set
	// (dicomx's reader tests expect the same)
	{"pydicom/MR_truncated.dcm", "", dicomx.ErrMalformed},
	{"pydicom/no_meta.dcm", "", dicomx.ErrMalformed},
}

// TestCorpusSmoke de-identifies every corpus file under both built-in
// profiles: each one either de-identifies into an object the project's
// reader reads back, or fails in the way smokeExpected says.
func TestCorpusSmoke(t *testing.T) {
	files := corpusFiles(t)
	matched := make([]bool, len(smokeExpected))
	for _, prof := range []Profile{BasicProfile(), RegistryProfile()} {
		e := newEngine(t, prof)
		done := 0
		for _, f := range files {
			rel, err := filepath.Rel(corpusDir, f)
			if err != nil {
				t.Fatal(err)
			}
			rel = filepath.ToSlash(rel)
			want := -1
			for i, x := range smokeExpected {
				if ok, _ := path.Match(x.pattern, rel); ok {
					want = i
					matched[i] = true
					break
				}
			}
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := deidBytes(t, e, in, false)
			if want < 0 {
				if err != nil {
					t.Errorf("%s %s: %v", prof.Name, rel, err)
					continue
				}
				readAll(t, out)
				done++
				continue
			}
			x := smokeExpected[want]
			var refused *RefusedError
			switch {
			case err == nil:
				t.Errorf("%s %s: de-identified, want %v (%s)", prof.Name, rel, x.kind, x.reason)
			case !errors.Is(err, x.kind):
				t.Errorf("%s %s: %v, want %v", prof.Name, rel, err, x.kind)
			case x.reason != "" && (!errors.As(err, &refused) || refused.Reason != x.reason):
				t.Errorf("%s %s: %v, want refusal %s", prof.Name, rel, err, x.reason)
			}
		}
		if done == 0 {
			t.Errorf("%s: no corpus file de-identified", prof.Name)
		}
		t.Logf("%s: %d of %d corpus files de-identified", prof.Name, done, len(files))
	}
	for i, ok := range matched {
		if !ok {
			t.Errorf("no corpus file matches %s", smokeExpected[i].pattern)
		}
	}
}

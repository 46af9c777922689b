package deid

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// originalIdentifiers collects, at every depth, the identifying values a
// de-identified copy must not carry: person names and their long
// components, IDs, institution and station, birth and study dates, and
// instance UIDs.
func originalIdentifiers(ds *dicomx.Dataset, into map[string]string) {
	idTags := map[dicomx.Tag]bool{
		tagPatientID: true, 0x00101000: true, 0x00080050: true, 0x00200010: true,
		0x00080080: true, 0x00081010: true, 0x00181000: true, 0x00101040: true,
		0x00100030: true, 0x00080020: true,
	}
	for _, e := range ds.Elements {
		if e.VR == dicomx.VRSQ {
			for _, it := range e.Items {
				originalIdentifiers(it, into)
			}
			continue
		}
		k := dicomx.Keyword(e.Tag)
		switch {
		case e.VR == dicomx.VRPN:
			for _, v := range e.Strs() {
				if len(v) >= 6 {
					into[v] = k
				}
				for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' || r == ' ' }) {
					if len(c) >= 6 {
						into[c] = k
					}
				}
			}
		case idTags[e.Tag]:
			for _, v := range e.Strs() {
				if len(v) >= 6 {
					into[v] = k
				}
			}
		case e.VR == dicomx.VRUI && !classUID(e.Tag):
			for _, v := range e.Strs() {
				if len(v) >= 10 && !WellKnownUID(v) {
					into[v] = k
				}
			}
		}
	}
}

// TestCorpusIdentifiersGone: the real corpus files, de-identified under
// both built-in profiles, carry none of their original identifiers in any
// output byte, and every output reads back with the project's reader.
func TestCorpusIdentifiersGone(t *testing.T) {
	for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
		e := newEngine(t, p)
		done := 0
		for _, f := range corpusFiles(t) {
			in, _ := os.ReadFile(f)
			out, _, err := deidBytes(t, e, in, false)
			if err != nil {
				if errors.Is(err, ErrRefused) || errors.Is(err, dicomx.ErrMalformed) || errors.Is(err, dicomx.ErrNotDICOM) {
					continue
				}
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			_, ds := readAll(t, in)
			ids := map[string]string{}
			originalIdentifiers(ds, ids)
			// Values that legitimately recur: the same word kept as a
			// manufacturer, short numbers found inside new UIDs, and words of
			// the CID 7050 meanings written as provenance.
			var keptText []string
			for _, t := range []dicomx.Tag{0x00080070, 0x00081090} {
				keptText = append(keptText, strings.ToUpper(ds.Str(t)))
			}
			for _, c := range cid7050 {
				keptText = append(keptText, strings.ToUpper(c.Meaning))
			}
			for v, k := range ids {
				if digits(v) && len(v) < 8 {
					continue
				}
				coincidence := false
				for _, kt := range keptText {
					coincidence = coincidence || strings.Contains(kt, strings.ToUpper(v))
				}
				if coincidence {
					continue
				}
				if bytes.Contains(out, []byte(v)) {
					t.Errorf("%s %s: original %s found in the output", p.Name, filepath.Base(f), k)
				}
			}
			done++
		}
		if done < 50 {
			t.Errorf("%s: only %d corpus files de-identified", p.Name, done)
		}
	}
}

// TestOutputsReadByDcmdump runs dcmtk's dcmdump over every output (corpus
// and canaries): no error, no warning.
func TestOutputsReadByDcmdump(t *testing.T) {
	dcmdump, err := exec.LookPath("dcmdump")
	if err != nil {
		if os.Getenv("PRINTREG_REQUIRE_INTEGRATION") != "" {
			t.Fatal("dcmdump (Debian dcmtk) is required")
		}
		t.Skip("dcmdump not installed")
	}
	dir := t.TempDir()
	inputs := map[string][]byte{
		"canary-le.dcm":  canaryCT(t, dicomx.ExplicitVRLittleEndian),
		"canary-il.dcm":  canaryCT(t, dicomx.ImplicitVRLittleEndian),
		"canary-be.dcm":  canaryCT(t, dicomx.ExplicitVRBigEndian),
		"canary-dfl.dcm": canaryCT(t, dicomx.DeflatedExplicitVRLittleEndian),
		"canary-stl.dcm": canarySTL(t),
	}
	for _, f := range corpusFiles(t) {
		b, _ := os.ReadFile(f)
		inputs[strings.ReplaceAll(strings.TrimPrefix(f, corpusDir+"/"), "/", "_")] = b
	}
	for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
		e := newEngine(t, p)
		for name, in := range inputs {
			out, _, err := deidBytes(t, e, in, false)
			if err != nil {
				continue
			}
			path := filepath.Join(dir, p.Name+"-"+name)
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(dcmdump, "-q", "+E", path)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = nil, &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("%s %s: dcmdump: %v %s", p.Name, name, err, firstLine(stderr.String()))
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const secret = "a-site-secret-for-tests-only-0123456789abcdef"

func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCmd runs the command and returns its exit code, stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	var out bytes.Buffer
	code := run(args, &out, errf)
	b, _ := os.ReadFile(errf.Name())
	return code, out.String(), string(b)
}

// copyInputs puts the canary objects (file names full of canaries) and a few
// real corpus files in one input folder.
func copyInputs(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../../testdata/deid/canary/*.dcm")
	files = append(files, "../../testdata/dicom/pydicom/CT_small.dcm", "../../testdata/dicom/seg/highdicom/seg_image_ct_binary.dcm",
		"../../testdata/dicom/rtstruct/pydicom_rtstruct.dcm")
	files = append(files, extra...)
	if len(files) < 8 {
		t.Fatalf("test data missing: %v", files)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "CNRYFAMILY_patient", "study CNRY")
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, filepath.Base(f)+string(rune('a'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var uidName = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*(\.dcm)?$`)

func TestDeidCommand(t *testing.T) {
	in := copyInputs(t)
	out := filepath.Join(t.TempDir(), "out")
	q := filepath.Join(t.TempDir(), "quarantine")
	rep := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := runCmd(t, "--secret-file", writeSecret(t, secret), "-o", out, "--quarantine", q, "--report", rep, "-j", "3", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	n := 0
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == out {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			if !uidName.MatchString(part) {
				t.Errorf("output name not made of UIDs: %s", rel)
			}
		}
		if fi.IsDir() {
			return nil
		}
		n++
		b, _ := os.ReadFile(p)
		if bytes.Contains(bytes.ToUpper(b), []byte("CNRY")) {
			t.Errorf("%s: canary in the output", rel)
		}
		return nil
	})
	// The four canary CTs are one object in four transfer syntaxes: same
	// SOP Instance UID, so one output name.
	if n != 5 {
		t.Errorf("%d outputs, want 5", n)
	}
	var sum summary
	b, err := os.ReadFile(rep)
	if err != nil || json.Unmarshal(b, &sum) != nil {
		t.Fatalf("report: %v", err)
	}
	if sum.Files != 8 || sum.Outcomes["deidentified"] != 8 || sum.Profile != "registry" {
		t.Errorf("report: %+v", sum)
	}
	if strings.Contains(strings.ToUpper(string(b)+stderr), "CNRY") || strings.Contains(stderr, secret) {
		t.Error("report or log names an input or the secret")
	}
}

func TestDeidCommandRefusals(t *testing.T) {
	in := copyInputs(t, "../../testdata/dicom/pydicom/JPEG-lossy.dcm", "../../testdata/dicom/pydicom/MR_truncated.dcm")
	os.WriteFile(filepath.Join(in, "notes CNRYFAMILY.txt"), []byte("not dicom"), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	q := filepath.Join(t.TempDir(), "quarantine")
	rep := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := runCmd(t, "--secret-file", writeSecret(t, secret), "-o", out, "--quarantine", q, "--hash-paths", "--report", rep, in)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	// The user's own inputs are named on stderr with their reasons.
	sub := filepath.Join(in, "CNRYFAMILY_patient", "study CNRY")
	for _, want := range []struct{ start, has string }{
		{"deid: quarantined " + filepath.Join(sub, "JPEG-lossy.dcm"), ": burned_in_risk_sop_class: SOP class"},
		{"deid: failed " + filepath.Join(sub, "MR_truncated.dcm"), ": unreadable_dicom: "},
		{"deid: failed " + filepath.Join(in, "notes CNRYFAMILY.txt"), ": not_dicom: not a DICOM object"},
		{"deid: 8 de-identified, 1 quarantined, 2 failed", ""},
	} {
		found := false
		for line := range strings.Lines(stderr) {
			found = found || strings.HasPrefix(line, want.start) && strings.Contains(line, want.has)
		}
		if !found {
			t.Errorf("stderr lacks %q … %q:\n%s", want.start, want.has, stderr)
		}
	}
	var sum summary
	b, _ := os.ReadFile(rep)
	json.Unmarshal(b, &sum)
	if sum.Outcomes["quarantined"] != 1 || sum.Outcomes["failed"] != 2 || sum.Reasons["burned_in_risk_sop_class"] != 1 ||
		sum.Reasons["not_dicom"] != 1 || sum.Reasons["unreadable_dicom"] != 1 {
		t.Errorf("report: %+v", sum)
	}
	qs, _ := filepath.Glob(filepath.Join(q, "*.json"))
	if len(qs) != 3 {
		t.Errorf("%d quarantine reports, want 3", len(qs))
	}
	for _, f := range qs {
		b, _ := os.ReadFile(f)
		if strings.Contains(strings.ToUpper(string(b)), "CNRY") || strings.Contains(string(b), in) {
			t.Errorf("quarantine report names the input despite --hash-paths: %s", b)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.part"))
	if len(parts) != 0 {
		t.Errorf("partial outputs left: %v", parts)
	}
}

func TestDeidCommandDeterministic(t *testing.T) {
	in := copyInputs(t)
	// The four canary CTs are one object in four syntaxes and share an output
	// name; keep one so that every name has one input.
	for _, ts := range []string{"implicit-le", "explicit-be", "deflated"} {
		m, _ := filepath.Glob(filepath.Join(in, "*", "*", "*"+ts+"*"))
		for _, f := range m {
			os.Remove(f)
		}
	}
	sec := writeSecret(t, secret)
	trees := []map[string][]byte{}
	for _, j := range []string{"1", "4"} {
		out := filepath.Join(t.TempDir(), "out")
		if code, _, stderr := runCmd(t, "--secret-file", sec, "-o", out, "-j", j, "--basic", in); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		tree := map[string][]byte{}
		filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				rel, _ := filepath.Rel(out, p)
				tree[rel], _ = os.ReadFile(p)
			}
			return err
		})
		trees = append(trees, tree)
	}
	if len(trees[0]) != 5 || len(trees[0]) != len(trees[1]) {
		t.Fatalf("outputs %d and %d", len(trees[0]), len(trees[1]))
	}
	for k, v := range trees[0] {
		if !bytes.Equal(v, trees[1][k]) {
			t.Errorf("%s differs between -j 1 and -j 4", k)
		}
	}
}

func TestDeidCommandUsage(t *testing.T) {
	dir := t.TempDir()
	short := writeSecret(t, "short-secret")
	exposed := writeSecret(t, secret)
	if err := os.Chmod(exposed, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"--secret-file", exposed, "-o", dir, "x"}, // readable by others
		{"-o", dir, "x"}, // no secret
		{"--secret-file", filepath.Join(dir, "none"), "-o", dir, "x"}, // missing file
		{"--secret-file", short, "-o", dir, "x"},                      // short secret
		{"--secret-file", writeSecret(t, secret), "x"},                // no -o
		{"--secret-file", writeSecret(t, secret), "-o", dir, "--basic", "--profile", "p.yaml", "x"},
		{"--secret-file", writeSecret(t, secret), "-o", dir, "--profile", "../../config/none.yaml", "x"},
		{"--secret-file", writeSecret(t, secret), "-o", dir}, // no input
	}
	for _, c := range cases {
		code, _, stderr := runCmd(t, c...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", c, code)
		}
		if strings.Contains(stderr, "short-secret") || strings.Contains(stderr, secret) {
			t.Errorf("%v: the secret was printed", c)
		}
	}
}

func TestDeidCommandExplain(t *testing.T) {
	code, out, stderr := runCmd(t, "--secret-file", writeSecret(t, secret), "--profile", "../../config/deid-registry.yaml",
		"--explain", "../../testdata/dicom/pydicom/CT_small.dcm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"PATH", "(0010,0010)", "pseudonym", "E.1-1 Patient's Name Z", "(7FE0,0010)"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q", want)
		}
	}
}

// TestDeidNamesFailedInputs: every input not de-identified is named on
// stderr with its reason, a path that does not exist included; quarantine
// reports name the input unless --hash-paths; flags written after the
// inputs are flags, never inputs.
func TestDeidNamesFailedInputs(t *testing.T) {
	sec := writeSecret(t, secret)
	in := t.TempDir()
	ct := filepath.Join(in, "ct.dcm")
	b, err := os.ReadFile("../../testdata/dicom/pydicom/CT_small.dcm")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ct, b, 0o644)
	notDICOM := filepath.Join(in, "notes.txt")
	os.WriteFile(notDICOM, []byte("not dicom"), 0o644)
	missing := filepath.Join(t.TempDir(), "no such folder")
	tests := []struct {
		name    string
		args    func(out, q, rep string) []string
		code    int
		stderr  []string
		report  bool   // --report was written
		qInput  string // a quarantine report names this input
		qHashed bool   // quarantine reports name no path
	}{
		{"a path that does not exist",
			func(out, q, rep string) []string { return []string{"--secret-file", sec, "-o", out, missing} }, 1,
			[]string{"deid: failed " + missing + ": not_found: does not exist", "0 de-identified, 0 quarantined, 1 failed"}, false, "", false},
		{"flags after the inputs",
			func(out, q, rep string) []string {
				return []string{"--secret-file", sec, "-o", out, ct, "--report", rep, "-j", "1"}
			}, 0,
			[]string{"1 de-identified, 0 quarantined, 0 failed"}, true, "", false},
		{"flags between the inputs",
			func(out, q, rep string) []string {
				return []string{"-o", out, ct, "--secret-file", sec, notDICOM, "--quarantine", q, "--report", rep}
			}, 1,
			[]string{"deid: failed " + notDICOM + ": not_dicom: not a DICOM object", "1 de-identified, 0 quarantined, 1 failed"}, true, notDICOM, false},
		{"quarantine reports hashed",
			func(out, q, rep string) []string {
				return []string{"--secret-file", sec, "-o", out, in, missing, "--quarantine", q, "--hash-paths"}
			}, 1,
			[]string{"deid: failed " + notDICOM + ": not_dicom", "deid: failed " + missing + ": not_found"}, false, "", true},
		{"-- ends the flags",
			func(out, q, rep string) []string {
				return []string{"--secret-file", sec, "-o", out, "--", ct, "--report"}
			}, 1,
			[]string{"deid: failed --report: not_found: does not exist"}, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			q := filepath.Join(t.TempDir(), "q")
			rep := filepath.Join(t.TempDir(), "report.json")
			code, _, stderr := runCmd(t, tc.args(out, q, rep)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if _, err := os.Stat(rep); (err == nil) != tc.report {
				t.Errorf("report written: %v, want %v", err == nil, tc.report)
			}
			if strings.Contains(stderr, "failed "+rep) || strings.Contains(stderr, "failed "+q) {
				t.Errorf("a flag's value was taken as an input:\n%s", stderr)
			}
			qs, _ := filepath.Glob(filepath.Join(q, "*.json"))
			for _, f := range qs {
				var r map[string]string
				b, _ := os.ReadFile(f)
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatal(err)
				}
				if tc.qHashed && (r["input"] != "" || strings.Contains(string(b), in) || len(r["input_ref"]) != 24) {
					t.Errorf("--hash-paths report names the input: %s", b)
				}
				if tc.qInput != "" && (r["input"] != tc.qInput || r["reason"] != "not_dicom") {
					t.Errorf("report %s, want the input named", b)
				}
			}
			if (tc.qInput != "" || tc.qHashed) && len(qs) == 0 {
				t.Error("no quarantine report")
			}
		})
	}
}

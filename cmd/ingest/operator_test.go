package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// embeddedEnv is the environment of an embedded default in dir on free
// ports, with a fast inbox.
func embeddedEnv(dir string) []string {
	return []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=127.0.0.1:0",
		"PRINTREG_INBOX_POLL=100ms",
		"PRINTREG_INBOX_STABLE=300ms",
	}
}

// TestCaseAndDLQOnTheEmbeddedDefault: files dropped under an accession
// number are found with `ingest case <accession>` (JSON and --summary), the
// case is followed with `tail --ref`, and the refused files are listed and
// shown by `ingest dlq` — the accession and the object keys appearing only
// behind --show-key.
func TestCaseAndDLQOnTheEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	env := embeddedEnv(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	waitFile(t, filepath.Join(dir, "nats", "nats.url"))
	const ref = "ACC-CANARY-4711"
	inbox := filepath.Join(dir, "inbox", ref)
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"DOE JOHN model.stl": testenv.TetrahedronSTL(),
		"notes CANARY.bin":   []byte("neither dicom nor a model"),
		"case.json":          []byte("{\"object_type\": \"anatomic_model\",\n \"ordering_service\": \"Urology\"}"),
	} {
		if err := os.WriteFile(filepath.Join(inbox, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A CT study (its own accession) dropped in the same folder forms its
	// own case, which its StudyInstanceUID finds too.
	cts, _ := filepath.Glob("../../testdata/dicom/series_dcmqi_ct-3slice/*.dcm")
	if len(cts) == 0 {
		t.Fatal("test data missing")
	}
	obj := readDICOMHeader(t, cts[0])
	ct := dicomx.Extract(obj).Instance
	if ct.AccessionNumber == "" || ct.StudyInstanceUID == "" {
		t.Fatal("the CT has no accession number")
	}
	for i, f := range cts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inbox, fmt.Sprintf("ct%d.dcm", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, err := sitekey.Load(filepath.Join(dir, "site.secret"))
	if err != nil {
		t.Fatal(err)
	}
	wantID := casemodel.CaseID(key, ref)
	ctID := casemodel.CaseID(key, ct.AccessionNumber)

	// The case, once the three files are in it.
	var snap registry.Snapshot
	var out, errOut string
	deadline := time.Now().Add(90 * time.Second)
	for {
		var code int
		code, out, errOut = invoke(t, ctx, env, "case", ref)
		if code == exitOK {
			if err := json.Unmarshal([]byte(out), &snap); err != nil {
				t.Fatalf("case printed %q: %v", out, err)
			}
			if len(snap.Models) == 1 && len(snap.Rejected) == 2 {
				break
			}
		} else if notYet := strings.Contains(errOut, "no case for this reference") ||
			// nats.url is written when NATS is up, before `run` has
			// created the streams: the first look may come before them.
			strings.Contains(errOut, "no case event was ever published"); code != exitFail || !notYet {
			t.Fatalf("case exit %d: %s", code, errOut)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the case never held the model and two rejections: exit %d %q %s", code, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if snap.CaseID != wantID || snap.Models[0].Triangles != 4 {
		t.Errorf("case %s with %+v, want %s with the tetrahedron", snap.CaseID, snap.Models, wantID)
	}
	outputs := []string{out, errOut}
	for {
		code, _, errOut := invoke(t, ctx, env, "case", ct.AccessionNumber)
		if code == exitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CT's case never appeared: exit %d %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		showsKey bool
	}{
		{"padding ignored", []string{"case", ref + "  "}, exitOK, []string{`"case_id": "` + wantID + `"`}, nil, false},
		{"reference from standard input", []string{"case", "--summary", "-"}, exitOK, []string{"case " + wantID}, nil, false},
		{"summary, flag after the reference", []string{"case", ref, "--summary"}, exitOK,
			[]string{"case " + wantID, "status: waiting for imaging", "1 model;", "registry_ready: no; missing: imaging", "rejected: invalid_sidecar ×1, unsupported ×1", "conflicts: none"}, nil, false},
		{"by StudyInstanceUID", []string{"case", ct.StudyInstanceUID, "--summary"}, exitOK, []string{"case " + ctID, "status: 1 study, ", "1 study, 1 series"},
			[]string{"the reference is a study's other reference (StudyInstanceUID): its case is " + ctID}, false},
		{"letter case matters", []string{"case", strings.ToLower(ref)}, exitFail, nil, []string{"no case for this reference", "case-sensitive"}, false},
		{"unknown reference", []string{"case", "ACC-NONE"}, exitFail, nil, []string{"no case for this reference"}, false},
		{"tail by reference", []string{"tail", "--ref", ref, "--from-start", "--limit", "1"}, exitOK, []string{`"subject":"` + wantID + `"`}, []string{"following case " + wantID}, false},
		{"dlq list", []string{"dlq", "list"}, exitOK, []string{"ID", "REASON", "DELIVERIES", "OBJECT", "unsupported", "invalid_sidecar", `did you mean \"urology\"?`}, nil, false},
		{"dlq list by reason", []string{"dlq", "list", "--reason", "unsupported", "--json"}, exitOK, []string{`"reason":"unsupported"`}, nil, false},
		{"dlq show unknown", []string{"dlq", "show", "999"}, exitFail, nil, []string{"no entry 999"}, false},
		{"dlq list with keys", []string{"dlq", "list", "--show-key"}, exitOK, []string{"KEY", ref + "/notes CANARY.bin", ref + "/case.json"}, nil, true},
	}
	stdin = strings.NewReader(ref + "\n")
	defer func() { stdin = os.Stdin }()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := invoke(t, ctx, env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(strings.ReplaceAll(out, `\"`, `"`), strings.ReplaceAll(w, `\"`, `"`)) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if !tc.showsKey {
				outputs = append(outputs, out, errOut)
			}
		})
	}

	// dlq list --json: one line per entry; show gives one in full, its key
	// only with --show-key.
	code, out, errOut := invoke(t, ctx, env, "dlq", "list", "--json")
	if code != exitOK {
		t.Fatalf("dlq list exit %d: %s", code, errOut)
	}
	outputs = append(outputs, out, errOut)
	var entries []dlqEntry
	for line := range strings.Lines(out) {
		var e dlqEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("dlq list --json line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	reasons := []string{}
	for _, e := range entries {
		reasons = append(reasons, e.Reason)
		if e.ID == 0 || len(e.Object) != 16 || e.Deliveries != 1 || e.FailedAt == "" || e.Detail == "" || e.Key != "" {
			t.Errorf("entry %+v", e)
		}
	}
	slices.Sort(reasons)
	if !slices.Equal(reasons, []string{"invalid_sidecar", "unsupported"}) {
		t.Fatalf("DLQ reasons %v", reasons)
	}
	i := slices.IndexFunc(entries, func(e dlqEntry) bool { return e.Reason == "unsupported" })
	id := strconv.FormatUint(entries[i].ID, 10)
	code, out, errOut = invoke(t, ctx, env, "dlq", "show", id)
	var full dlqEntry
	if code != exitOK || json.Unmarshal([]byte(out), &full) != nil || full.Object != entries[i].Object || full.Bucket != "inbox" || full.Size == 0 || full.Key != "" {
		t.Errorf("dlq show exit %d: %s %s", code, out, errOut)
	}
	outputs = append(outputs, out, errOut)
	code, out, _ = invoke(t, ctx, env, "dlq", "show", "--show-key", id)
	if code != exitOK || json.Unmarshal([]byte(out), &full) != nil || full.Key != ref+"/notes CANARY.bin" {
		t.Errorf("dlq show --show-key exit %d: %s", code, out)
	}

	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
	outputs = append(outputs, cmd.stderr)
	for _, o := range outputs {
		for _, s := range []string{"CANARY", "canary", "DOE", "Urology", ct.AccessionNumber, ct.StudyInstanceUID} {
			if strings.Contains(o, s) {
				t.Errorf("output holds %q from the reference, an object key or a value:\n%s", s, o)
			}
		}
	}
}

// TestCommandsCreateNothing: scan, replay, tail, case and dlq run where
// there is no data folder (or one without a secret or a running server)
// fail with a hint naming the folder they looked in, and create nothing:
// no folder, no secret, no NATS state.
func TestCommandsCreateNothing(t *testing.T) {
	commands := [][]string{
		{"scan"}, {"replay"}, {"tail"}, {"tail", "--ref", "ACC1"}, {"case", "ACC1"}, {"case", "--summary", "ACC1"},
		{"dlq", "list"}, {"dlq", "show", "1"},
	}
	t.Run("no data folder", func(t *testing.T) {
		empty := t.TempDir()
		t.Chdir(empty)
		for _, args := range commands {
			code, out, errOut := invoke(t, context.Background(), nil, args...)
			if code != exitFail || out != "" {
				t.Errorf("%v: exit %d, stdout %q", args, code, out)
			}
			for _, w := range []string{"no printreg data folder at " + filepath.Join(empty, "printreg-data"), "PRINTREG_DATA_DIR", "--config", "Start `ingest run` first"} {
				if !strings.Contains(errOut, w) {
					t.Errorf("%v: stderr lacks %q:\n%s", args, w, errOut)
				}
			}
			if strings.Contains(errOut, "ACC1") {
				t.Errorf("%v: the reference is repeated: %s", args, errOut)
			}
		}
		if left, _ := os.ReadDir(empty); len(left) != 0 {
			t.Errorf("the commands created %v", left)
		}
	})
	t.Run("data folder without secret or server", func(t *testing.T) {
		data := t.TempDir()
		env := embeddedEnv(data)
		for _, args := range commands {
			code, _, errOut := invoke(t, context.Background(), env, args...)
			want := "no embedded NATS server is running for the data folder " + data
			if args[0] == "scan" || args[0] == "case" || slices.Contains(args, "--ref") {
				want = "no site secret at " + filepath.Join(data, "site.secret")
			}
			if code != exitFail || !strings.Contains(errOut, want) || !strings.Contains(errOut, "PRINTREG_DATA_DIR") {
				t.Errorf("%v: exit %d, stderr lacks %q:\n%s", args, code, want, errOut)
			}
		}
		if left, _ := os.ReadDir(data); len(left) != 0 {
			t.Errorf("the commands created %v", left)
		}
	})
}

// TestValidateCommand: `ingest validate` reports a case.json's problems by
// line and column, suggests the schema's value for a misspelt one without
// repeating it, and accepts comments and the .jsonc name.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.Mkdir(filepath.Join(dir, "syntax"), 0o750); err != nil {
		t.Fatal(err)
	}
	syntax := write("syntax/case.json", "{\n  \"object_type\": \"anatomic_model\",\n}\n")
	typo := write("case.json", "{\n  \"object_type\": \"anatomic_model\",\n  \"ordering_service\": \"Urology\"\n}\n")
	jsonc := write("case.jsonc", "// from the example\n{\n  /* the type */ \"object_type\": \"anatomic_model\", // a model\n  \"intended_use\": \"surgical_planning\"\n}\n")
	other := write("lab-notes.json", `{"object_type": "anatomic_guide"}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
		never  []string
	}{
		{"syntax error by line and column", []string{"validate", syntax}, exitFail,
			[]string{syntax + ":3:1: (document): is not valid JSON (syntax error at line 3, column 1) (rule json)"}, nil, nil},
		{"enum typo with suggestion", []string{"validate", typo}, exitFail,
			[]string{typo + `:3:23: ordering_service: did you mean "urology"?`, "(rule enum)"}, nil, []string{"Urology"}},
		{"jsonc with comments", []string{"validate", jsonc}, exitOK, []string{jsonc + ": valid"}, nil, []string{"note:"}},
		{"the example", []string{"validate", "../../config/case.example.jsonc"}, exitOK, []string{"case.example.jsonc: valid"}, []string{"note: the workers read a lab file only under the name case.json"}, nil},
		{"another name", []string{"validate", other}, exitOK, []string{other + ": valid"}, []string{"note:"}, nil},
		{"several files", []string{"validate", jsonc, typo}, exitFail, []string{jsonc + ": valid", typo + ":3:23:"}, nil, nil},
		{"missing file", []string{"validate", filepath.Join(dir, "none.json")}, exitFail, nil, []string{"none.json: does not exist"}, nil},
		{"a folder", []string{"validate", dir}, exitFail, nil, []string{"is a folder"}, nil},
		{"no file", []string{"validate"}, exitUsage, nil, []string{"missing argument"}, nil},
		{"help after the file", []string{"validate", jsonc, "--help"}, exitOK, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := invoke(t, context.Background(), nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.never {
				if strings.Contains(out+errOut, w) {
					t.Errorf("output holds %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}

// TestInterleavedFlags: flags are read before, between and after the
// arguments; "--" ends them, unless it is a flag's value.
func TestInterleavedFlags(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		summary bool
		config  string
	}{
		{[]string{"ACC1"}, []string{"ACC1"}, false, ""},
		{[]string{"--summary", "ACC1"}, []string{"ACC1"}, true, ""},
		{[]string{"ACC1", "--summary"}, []string{"ACC1"}, true, ""},
		{[]string{"ACC1", "--config", "c.yaml", "B", "-summary"}, []string{"ACC1", "B"}, true, "c.yaml"},
		{[]string{"ACC1", "--", "--summary"}, []string{"ACC1", "--summary"}, false, ""},
		{[]string{"--config", "--", "ACC1", "--summary"}, []string{"ACC1"}, true, "--"},
		{[]string{"--summary=false", "ACC1"}, []string{"ACC1"}, false, ""},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("case", flag.ContinueOnError)
		summary := fs.Bool("summary", false, "")
		config := fs.String("config", "", "")
		pos, err := cli.ParseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *summary != tc.summary || *config != tc.config {
			t.Errorf("%q: %q summary=%v config=%q (%v); want %q %v %q", tc.args, pos, *summary, *config, err, tc.pos, tc.summary, tc.config)
		}
	}
}

// TestCaseSummary: the --summary lines for cases in different states.
func TestCaseSummary(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		snap string
		want []string
	}{
		{"ready",
			`{"case_id":"` + id + `","version":9,"studies":[{"status":"stable"},{"status":"stable"}],"counts":{"studies":2,"series":3,"instances":400,"models":2,"segmentations":1,"sidecars":1},"registry_ready":true,"missing":[],"rejected":[],"withheld":[]}`,
			[]string{"case " + id + "  version 9", "status: 2 studies: stable ×2", "counts: 2 studies, 3 series, 400 instances; 2 models; 1 segmentation; 1 case.json; 0 objects rejected", "registry_ready: yes", "conflicts: none", "rejected: none", "withheld: none"}},
		{"waiting, rejected, two case.json files and conflicts",
			`{"case_id":"` + id + `","version":3,"studies":[],"counts":{"models":1,"sidecars":2,"objects_rejected":3},"registry_ready":false,"missing":["imaging","lab.effort"],"rejected":[{"reason":"unsupported"},{"reason":"invalid_sidecar"},{"reason":"unsupported"}],"withheld":[{"field":"lab.intended_use_text","rule":"identity_unknown"}],"conflicts":[{"kind":"study_in_two_cases","detail":"one study\nin two cases"}]}`,
			[]string{"status: waiting for imaging (lab files only)", "registry_ready: no; missing: imaging, lab.effort",
				"conflicts: 2 case.json files (the latest revision is used), study_in_two_cases (one study in two cases)",
				"rejected: unsupported ×2, invalid_sidecar ×1", "withheld: lab.intended_use_text (identity_unknown)", "3 objects rejected"}},
		{"receiving",
			`{"case_id":"` + id + `","version":1,"studies":[{"status":"receiving"}],"counts":{"studies":1,"series":1,"instances":1}}`,
			[]string{"status: 1 study, receiving", "1 study, 1 series, 1 instance;"}},
		{"merged",
			`{"case_id":"` + id + `","version":4,"merged_into":"fedcba9876543210fedcba9876543210","studies":[],"counts":{}}`,
			[]string{"status: merged into case fedcba9876543210fedcba9876543210"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &lastEvent{Type: registry.TypeCaseUpdated, Time: "2026-01-02T03:04:05Z"}
			ev.Data.Case = json.RawMessage(tc.snap)
			var b strings.Builder
			if err := printSummary(&b, ev); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// readDICOMHeader reads the header of a test file.
func readDICOMHeader(t *testing.T, path string) *dicomx.Object {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := dicomx.ReadMeta(f, st.Size(), dicomx.MetaOptions(dicomx.Limits{}))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

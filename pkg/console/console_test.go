package console

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/embednats"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a console on an in-process NATS server with directory buckets.
type env struct {
	srv      *Server
	js       jetstream.JetStream
	nc       *nats.Conn
	topo     pipeline.Topology
	key      *sitekey.Key
	raw, dir string
	logs     *syncBuffer
	audit    string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	logs := &syncBuffer{}
	log := zerolog.New(logs)
	ns, err := embednats.Start(filepath.Join(dir, "nats"), "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	tok, err := embednats.ReadToken(filepath.Join(dir, "nats"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.URL(), nats.Token(tok))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo := pipeline.DefaultTopology()
	topo.Replicas, topo.Memory = 1, true
	ctx := context.Background()
	if err := pipeline.Setup(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	raw, err := dirstore.New(filepath.Join(dir, "inbox"), "inbox")
	if err != nil {
		t.Fatal(err)
	}
	deid, err := dirstore.New(filepath.Join(dir, "deid"), "deid")
	if err != nil {
		t.Fatal(err)
	}
	key, err := sitekey.New([]byte(strings.Repeat("console test secret ", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.AuditFile == "" {
		cfg.AuditFile = filepath.Join(dir, "audit.log")
	}
	srv, err := New(cfg, Deps{Conn: nc, JS: js, Topology: topo, Aliases: "PRINTREG_ALIASES", Key: key, Raw: raw, Deid: deid, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return &env{srv: srv, js: js, nc: nc, topo: topo, key: key, raw: filepath.Join(dir, "inbox"), dir: dir, logs: logs, audit: cfg.AuditFile}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.srv.URL(), c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

// signInOnce signs in with the current one-time URL.
func (e *env) signInOnce(t *testing.T, b *browser) {
	t.Helper()
	u := e.srv.SignInURL()
	res, err := b.c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cases" {
		t.Fatalf("one-time sign-in answered %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func writeUsers(t *testing.T, lines ...string) string {
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bcryptLine(t *testing.T, name, pw, roles string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return name + ":" + string(h) + ":" + roles
}

// publishCase publishes a case event holding snap.
func (e *env) publishCase(t *testing.T, snap registry.Snapshot, kind string) {
	t.Helper()
	ev := map[string]any{
		"specversion": "1.0", "id": fmt.Sprintf("%032x", snap.Version), "source": "urn:test", "type": registry.TypeCaseUpdated,
		"subject": snap.CaseID, "time": time.Now().UTC().Format(time.RFC3339), "datacontenttype": "application/json",
		"data": map[string]any{"case": snap, "change": map[string]any{"kind": kind, "version": snap.Version}},
	}
	b, _ := json.Marshal(ev)
	if _, err := e.js.Publish(context.Background(), e.topo.CaseSubject(snap.CaseID), b); err != nil {
		t.Fatal(err)
	}
}

// golden reads the snapshot of a golden scenario's last event.
func golden(t *testing.T, name string) registry.Snapshot {
	t.Helper()
	b, err := os.ReadFile("../registry/testdata/golden/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []json.RawMessage
	if json.Unmarshal(b, &evs) != nil {
		evs = []json.RawMessage{b}
	}
	var ev struct {
		Data struct {
			Case registry.Snapshot `json:"case"`
		} `json:"data"`
	}
	if err := json.Unmarshal(evs[len(evs)-1], &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Data.Case
}

// waitFor is testenv.WaitFor.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, cond)
}

func TestPasswordSignInCookiesAndCSRF(t *testing.T) {
	e := newEnv(t, Config{UsersFile: writeUsers(t, "# staff", bcryptLine(t, "alice", "correct horse", "lab,coordinator"))})
	b := e.browser(t)
	if res, _ := b.get("/cases"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
		t.Fatalf("an anonymous visit answered %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	tok := b.csrf("/signin")
	if res, body := b.post("/signin", url.Values{"csrf": {tok}, "username": {"alice"}, "password": {"wrong"}}); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Fatalf("a wrong password answered %d", res.StatusCode)
	}
	if res, _ := b.post("/signin", url.Values{"username": {"alice"}, "password": {"correct horse"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a sign-in without the form token answered %d", res.StatusCode)
	}
	tok = b.csrf("/signin")
	res, _ := b.post("/signin", url.Values{"csrf": {tok}, "username": {"alice"}, "password": {"correct horse"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in answered %d", res.StatusCode)
	}
	var sc string
	for _, h := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, cookieName+"=") {
			sc = h
		}
	}
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Secure") {
		t.Errorf("session cookie %q", sc)
	}
	if res, _ := b.get("/cases"); res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("cases page %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	// Every POST needs the session's token.
	if res, _ := b.post("/search", url.Values{"ref": {"ACC-CSRF-1"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a search without the token answered %d", res.StatusCode)
	}
	if res, _ := b.post("/search", url.Values{"ref": {"ACC-CSRF-1"}, "csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a search with a forged token answered %d", res.StatusCode)
	}
	// A form posted from another site is refused even with the token.
	tok = b.csrf("/cases")
	req, _ := http.NewRequest(http.MethodPost, b.base+"/search", strings.NewReader(url.Values{"csrf": {tok}, "ref": {"ACC-CSRF-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://elsewhere.example")
	if res, err := b.c.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site form answered %v %v", res.StatusCode, err)
	}
	// Roles: alice is no operator.
	if res, _ := b.get("/dlq"); res.StatusCode != http.StatusForbidden {
		t.Errorf("the DLQ answered %d to a user without the operator role", res.StatusCode)
	}
	tok = b.csrf("/cases")
	if res, _ := b.post("/signout", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out answered %d", res.StatusCode)
	}
	if res, _ := b.get("/cases"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out the cases answered %d", res.StatusCode)
	}
	audit, _ := os.ReadFile(e.audit)
	for _, want := range []string{`"action":"sign_in","method":"password","outcome":"bad_credentials"`, `"method":"password","outcome":"ok"`, `"action":"sign_out"`, `"action":"forbidden"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit file lacks %s:\n%s", want, audit)
		}
	}
}

func TestFailedSignInsAreLimited(t *testing.T) {
	e := newEnv(t, Config{UsersFile: writeUsers(t, bcryptLine(t, "bob", "pw", "operator"))})
	b := e.browser(t)
	for i := range maxFailures + 1 {
		tok := b.csrf("/signin")
		res, body := b.post("/signin", url.Values{"csrf": {tok}, "username": {"bob"}, "password": {"nope"}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d answered %d", i, res.StatusCode)
		}
		if i == maxFailures && !strings.Contains(body, "Too many failed attempts") {
			t.Errorf("attempt %d was not limited", i)
		}
	}
	tok := b.csrf("/signin")
	if _, body := b.post("/signin", url.Values{"csrf": {tok}, "username": {"bob"}, "password": {"pw"}}); !strings.Contains(body, "Too many failed attempts") {
		t.Error("the right password was taken while the name was limited")
	}
}

func TestUsersFileErrors(t *testing.T) {
	good := bcryptLine(t, "carol", "pw", "lab")
	for _, tc := range []struct{ name, body, want string }{
		{"no roles", strings.TrimSuffix(good, ":lab"), "name:bcrypt-hash:roles"},
		{"unknown role", strings.TrimSuffix(good, "lab") + "admin", "roles are lab, coordinator and operator"},
		{"not bcrypt", "carol:plaintext:lab", "not a bcrypt hash"},
		{"twice", good + "\n" + good, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadUsers(writeUsers(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "$2a$") {
				t.Errorf("the error repeats a hash: %v", err)
			}
		})
	}
	p := writeUsers(t, good)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadUsers(p); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("a world-readable users file: %v", err)
	}
	if err := (Config{Listen: "127.0.0.1:0"}).Validate(); err == nil || !strings.Contains(err.Error(), "no way to sign in") {
		t.Errorf("a console without sign-in: %v", err)
	}
	if err := (Config{Listen: "127.0.0.1:0", Proxy: ProxyConfig{UserHeader: "X-User", DefaultRoles: []string{"lab"}}}).Validate(); err == nil || !strings.Contains(err.Error(), "proxy.trusted is empty") {
		t.Errorf("a proxy without an allow-list: %v", err)
	}
}

func TestOneTimeSignInWorksOnce(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "console", "signin.url")
	e := newEnv(t, Config{OneTimeSignIn: true, SignInURLFile: urlFile})
	first := e.srv.SignInURL()
	inFile, err := os.ReadFile(urlFile)
	if err != nil || strings.TrimSpace(string(inFile)) != first {
		t.Fatalf("sign-in URL file %q (%v), want %q", inFile, err, first)
	}
	if st, _ := os.Stat(urlFile); st.Mode().Perm() != 0o600 {
		t.Errorf("sign-in URL file mode %v", st.Mode().Perm())
	}
	b := e.browser(t)
	e.signInOnce(t, b)
	if res, _ := b.get("/dlq"); res.StatusCode != http.StatusOK {
		t.Errorf("the one-time session lacks a role: %d", res.StatusCode)
	}
	other := e.browser(t)
	res, err := other.c.Get(first)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the used link answered %d", res.StatusCode)
	}
	next := e.srv.SignInURL()
	inFile, _ = os.ReadFile(urlFile)
	if next == first || strings.TrimSpace(string(inFile)) != next {
		t.Errorf("no new link after use: %q, file %q", next, inFile)
	}
	e.signInOnce(t, other)
	if strings.Contains(e.logs.String(), strings.TrimPrefix(first, e.srv.URL())) {
		t.Error("the log holds a sign-in token")
	}
}

func TestProxySignIn(t *testing.T) {
	e := newEnv(t, Config{Proxy: ProxyConfig{UserHeader: "X-Remote-User", RolesHeader: "X-Remote-Roles", Trusted: []string{"127.0.0.0/8"}}})
	req := func(user, roles, path string) int {
		r, _ := http.NewRequest(http.MethodGet, e.srv.URL()+path, nil)
		if user != "" {
			r.Header.Set("X-Remote-User", user)
		}
		r.Header.Set("X-Remote-Roles", roles)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := req("dana", "coordinator", "/export"); c != http.StatusOK {
		t.Errorf("a proxied coordinator got %d", c)
	}
	if c := req("dana", "coordinator", "/dlq"); c != http.StatusForbidden {
		t.Errorf("a proxied coordinator reached the DLQ: %d", c)
	}
	if c := req("", "", "/signin"); c != http.StatusUnauthorized {
		t.Errorf("no user header: %d", c)
	}
	far := newEnv(t, Config{Proxy: ProxyConfig{UserHeader: "X-Remote-User", DefaultRoles: []string{"lab"}, Trusted: []string{"192.0.2.10"}}})
	r, _ := http.NewRequest(http.MethodGet, far.srv.URL()+"/cases", nil)
	r.Header.Set("X-Remote-User", "mallory")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a request from outside the proxy allow-list got %d", res.StatusCode)
	}
}

// TestSearchHashesAndForgets: the reference is hashed into the case id,
// the answer is a redirect to the case, and the reference appears in no
// page, URL, log line or audit entry.
func TestSearchHashesAndForgets(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true})
	const ref = "ACC-SEARCH-CANARY-31337"
	snap := golden(t, "ct_seg_models_sidecar")
	snap.CaseID = casemodel.CaseID(e.key, ref)
	e.publishCase(t, snap, "sidecar_added")
	b := e.browser(t)
	e.signInOnce(t, b)
	waitFor(t, "the index holds the case", func() bool { _, ok := e.srv.index.get(snap.CaseID); return ok })
	tok := b.csrf("/cases")
	res, body := b.post("/search", url.Values{"csrf": {tok}, "ref": {"  " + ref + " "}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cases/"+snap.CaseID {
		t.Fatalf("search answered %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	pages := []string{body}
	res, body = b.post("/search", url.Values{"csrf": {tok}, "ref": {strings.ToLower(ref)}})
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "No case for this reference") {
		t.Errorf("an unknown reference answered %d", res.StatusCode)
	}
	pages = append(pages, body)
	res, body = b.get("/cases/" + snap.CaseID)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="ready" data-ready="true"`) || !strings.Contains(body, "Kidney") {
		t.Errorf("case page %d", res.StatusCode)
	}
	if !strings.Contains(body, importMapHTML2()) || !strings.Contains(res.Header.Get("Content-Security-Policy"), importMapHash) {
		t.Error("the case page's import map is not the one the policy allows")
	}
	pages = append(pages, body)
	_, body = b.get("/cases")
	pages = append(pages, body)
	audit, _ := os.ReadFile(e.audit)
	for _, s := range append(pages, e.logs.String(), string(audit)) {
		if strings.Contains(strings.ToLower(s), "canary") {
			t.Errorf("the reference was written somewhere:\n%s", s)
		}
	}
	if !strings.Contains(string(audit), `"action":"search","case_id":"`+snap.CaseID+`","outcome":"found"`) {
		t.Errorf("the search is not audited:\n%s", audit)
	}
}

func importMapHTML2() string { return string(importMapHTML) }

// TestLabFormSavesCaseJSON: the form becomes a case.json the workers
// accept, in the folder of the typed reference; a refused form names the
// fields and never shows the reference.
func TestLabFormSavesCaseJSON(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true})
	b := e.browser(t)
	e.signInOnce(t, b)
	const ref = "ACC-LAB-CANARY-7"
	tok := b.csrf("/lab")
	form := url.Values{"csrf": {tok}, "ref": {ref}, "object_type": {"anatomic_model"}, "ordering_service": {"urology"},
		"indications.0.text": {"Renal mass"}, "indications.0.icd10cm": {"C64.1"},
		"parts.0.region": {"Abdomen"}, "parts.0.structure": {"Kidney"}, "parts.0.laterality": {"left"},
		"parts.2.region": {"Abdomen"}, "parts.2.structure": {"Tumor"},
		"prints.0.parts": {"1, 2"}, "prints.0.label": {"Lab J750"}, "prints.0.technology": {"material_jetting"}, "prints.0.material": {"VeroClear"}, "prints.0.copies": {"2"},
		"prints.0.scale": {"1"}}
	for _, a := range []string{"consultation", "segmentation", "cad", "post_processing"} {
		form.Set("effort."+a+".clinician", "10")
		form.Set("effort."+a+".non_clinician", "unknown")
	}
	res, body := b.post("/lab", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save answered %d:\n%s", res.StatusCode, body)
	}
	caseID := casemodel.CaseID(e.key, ref)
	if res.Header.Get("Location") != "/cases/"+caseID {
		t.Errorf("redirect to %q", res.Header.Get("Location"))
	}
	saved, err := os.ReadFile(filepath.Join(e.raw, ref, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := casemodel.ParseSidecar(saved)
	if err != nil || len(sc.Parts) != 2 || sc.Parts[1].Structure != "Tumor" || sc.Effort == nil || !sc.Effort.CAD.NonClinician.Unknown || sc.Prints[0].Copies != 2 {
		t.Errorf("saved case.json %s: %v", saved, err)
	}

	// Refused: a misspelt enumeration (sent by hand), a bad number, an
	// e-mail address in a text; the page names each field.
	bad := url.Values{"csrf": {tok}, "ref": {ref}, "object_type": {"anatomic_model"}, "ordering_service": {"Urology"},
		"indications.0.text": {"write to someone@example.org"}, "prints.0.copies": {"many"}}
	res, body = b.post("/lab", bad)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a bad form answered %d", res.StatusCode)
	}
	for _, want := range []string{`href="#f-prints-0-copies"`, `id="f-prints-0-copies"`, `aria-invalid="true"`, "Not saved"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %s", want)
		}
	}
	// The parser's own check runs once the form's values are well-typed.
	bad.Set("prints.0.copies", "2")
	_, body = b.post("/lab", bad)
	for _, want := range []string{`did you mean &#34;urology&#34;?`, `href="#f-indications-0-text"`, "e-mail"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %s", want)
		}
	}
	if strings.Contains(body, "CANARY") {
		t.Error("the refused form shows the reference")
	}
	// Editing a case needs that case's reference.
	tok = b.csrf("/cases/" + caseID + "/lab")
	edit := url.Values{"csrf": {tok}, "case_id": {caseID}, "ref": {"ACC-OTHER"}, "object_type": {"anatomic_model"}}
	res, body = b.post("/lab", edit)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "does not name this case") {
		t.Errorf("a reference of another case answered %d", res.StatusCode)
	}
	audit, _ := os.ReadFile(e.audit)
	if strings.Contains(string(audit)+e.logs.String(), "CANARY") {
		t.Error("the reference reached the log or the audit file")
	}
	if !strings.Contains(string(audit), `"action":"lab_save","case_id":"`+caseID+`","outcome":"ok"`) {
		t.Errorf("the save is not audited:\n%s", audit)
	}
}

func TestUploadStreamsUnderAMadeName(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true, MaxUploadBytes: 1 << 10})
	b := e.browser(t)
	e.signInOnce(t, b)
	tok := b.csrf("/lab")
	upload := func(name string, data []byte) *http.Response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("csrf", tok)
		_ = mw.WriteField("ref", "ACC-UP-1")
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write(data)
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, b.base+"/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	stl := []byte("solid x\nendsolid x\n")
	if res := upload("DOE JANE kidney.STL", stl); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cases/"+casemodel.CaseID(e.key, "ACC-UP-1") {
		t.Fatalf("upload answered %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	files, _ := filepath.Glob(filepath.Join(e.raw, "ACC-UP-1", "*"))
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), "console-") || !strings.HasSuffix(files[0], ".stl") {
		t.Fatalf("stored %v", files)
	}
	if got, _ := os.ReadFile(files[0]); !bytes.Equal(got, stl) {
		t.Errorf("stored %q", got)
	}
	if res := upload("big.stl", bytes.Repeat([]byte("x"), 2<<10)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("an oversized upload answered %d", res.StatusCode)
	}
	if res := upload("notes.txt", []byte("x")); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a text file answered %d", res.StatusCode)
	}
	files, _ = filepath.Glob(filepath.Join(e.raw, "ACC-UP-1", "*"))
	if len(files) != 1 {
		t.Errorf("refused uploads left files: %v", files)
	}
	audit, _ := os.ReadFile(e.audit)
	for _, want := range []string{`"outcome":"too_large"`, `"outcome":"unsupported"`, `"format":"stl"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
	if strings.Contains(string(audit)+e.logs.String(), "DOE") {
		t.Error("the file's name reached the log")
	}
}

// TestReplayOneEntry: the DLQ page lists an entry without its key, and
// its replay button re-drives it to the work stream with the pipeline's
// replay.
func TestReplayOneEntry(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true})
	ctx := context.Background()
	for i, reason := range []string{"unsupported", "malformed"} {
		body, _ := json.Marshal(map[string]any{"v": 1, "object": map[string]any{"bucket": "inbox", "key": fmt.Sprintf("ACC-DLQ-CANARY/file%d.bin", i), "etag": "e"}})
		m := &nats.Msg{Subject: e.topo.DLQSubjectFor(reason), Data: body, Header: nats.Header{}}
		m.Header.Set(pipeline.HeaderReason, reason)
		m.Header.Set(pipeline.HeaderError, reason+": not a model")
		m.Header.Set(pipeline.HeaderObject, fmt.Sprintf("%016x", i+1))
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	e.signInOnce(t, b)
	res, page := b.get("/dlq")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="entry-1"`) || !strings.Contains(page, `id="entry-2"`) || strings.Contains(page, "CANARY") {
		t.Fatalf("DLQ page %d:\n%s", res.StatusCode, page)
	}
	tok := csrfRE.FindStringSubmatch(page)[1]
	if res, _ := b.post("/dlq/replay", url.Values{"csrf": {tok}, "id": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("replay answered %d", res.StatusCode)
	}
	_, page = b.get("/dlq")
	if strings.Contains(page, `id="entry-1"`) || !strings.Contains(page, `id="entry-2"`) || !strings.Contains(page, "Entry 1 re-driven") {
		t.Errorf("after the replay:\n%s", page)
	}
	work, err := e.js.Stream(ctx, e.topo.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := work.GetLastMsgForSubject(ctx, e.topo.WorkSubjectFor(pipeline.SourceReplay))
	if err != nil || !strings.Contains(string(msg.Data), `"replay":true`) || !strings.Contains(string(msg.Data), "file0.bin") {
		t.Errorf("work item %v: %s", err, msg.Data)
	}
	if res, _ := b.post("/dlq/replay", url.Values{"csrf": {tok}, "id": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a second replay answered %d", res.StatusCode)
	}
	_, page = b.get("/dlq")
	if !strings.Contains(page, "no longer in the dead-letter stream") {
		t.Error("replaying a gone entry says nothing")
	}
	if res, _ := b.post("/dlq/replay", url.Values{"csrf": {tok}, "all": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("replay all answered %d", res.StatusCode)
	}
	_, page = b.get("/dlq")
	if !strings.Contains(page, "No entries.") || !strings.Contains(page, "Re-driven 1 entry") {
		t.Errorf("after replay all:\n%s", page)
	}
	audit, _ := os.ReadFile(e.audit)
	for _, want := range []string{`"action":"replay","dlq_id":"1","outcome":"ok"`, `"action":"replay","dlq_id":"1","outcome":"not_found"`, `"action":"replay_all","outcome":"ok","remote":"127.0.0.1","replayed":"1"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
}

// TestExportReadyCases: one row per ready case in the column order, in
// both formats; cases not ready are left out.
func TestExportReadyCases(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true})
	ready := golden(t, "ct_seg_models_sidecar")
	notReady := golden(t, "ct_only")
	notReady.CaseID = strings.Repeat("ab", 16)
	e.publishCase(t, ready, "sidecar_added")
	e.publishCase(t, notReady, "series_added")
	waitFor(t, "the index holds both cases", func() bool {
		_, a := e.srv.index.get(ready.CaseID)
		_, b := e.srv.index.get(notReady.CaseID)
		return a && b
	})
	b := e.browser(t)
	e.signInOnce(t, b)
	res, body := b.get("/export/cases.csv")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV %d", res.StatusCode)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || strings.Join(rows[0], ",") != strings.Join(exportColumns, ",") {
		t.Fatalf("CSV %v:\n%s", err, body)
	}
	col := func(name string) string {
		for i, c := range exportColumns {
			if c == name {
				return rows[1][i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	for name, want := range map[string]string{"case_id": ready.CaseID, "modalities": "CT", "thin_slice": "true", "object_type": "anatomic_model",
		"ordering_service": "urology", "icd10cm": "C64.1", "segment_types": "SCT:64033007 Kidney (left); SCT:108369006 Neoplasm; SCT:2841007 Renal artery (left)", "cpt_codes": "0559T x1; 0560T x2",
		"effort_post_processing_non_clinician": "unknown", "clinician_minutes": "40", "procedure_used": "yes"} {
		if got := col(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	_, body = b.get("/export/cases.ndjson")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) != 1 {
		t.Fatalf("NDJSON has %d lines:\n%s", len(lines), body)
	}
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	var keys []string
	tok, _ := dec.Token()
	for dec.More() && tok != nil {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		_ = dec.Decode(&v)
	}
	if strings.Join(keys, ",") != strings.Join(exportColumns, ",") {
		t.Errorf("NDJSON keys %v", keys)
	}
	if row := exportRow(&ready); len(row) != len(exportColumns) {
		t.Errorf("a row has %d values for %d columns", len(row), len(exportColumns))
	}
}

// TestCaseEventsStream: the case page's event stream announces each new
// version of the case.
func TestCaseEventsStream(t *testing.T) {
	e := newEnv(t, Config{OneTimeSignIn: true})
	snap := golden(t, "ct_only")
	b := e.browser(t)
	e.signInOnce(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/cases/"+snap.CaseID+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", res.Header.Get("Content-Type"))
	}
	if _, page := b.get("/cases/" + snap.CaseID); !strings.Contains(page, "No event for this case id yet") {
		t.Errorf("a case without events:\n%s", page)
	}
	e.publishCase(t, snap, "series_added")
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), fmt.Sprintf("data: %d", snap.Version)) {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended: %v, read %q", err, got.String())
		}
	}
	_, live := b.get("/cases/" + snap.CaseID + "/live")
	if !strings.Contains(live, fmt.Sprintf(`data-version="%d"`, snap.Version)) {
		t.Errorf("live part:\n%s", live)
	}
}

// TestTLSSecureCookies: with a certificate the console serves HTTPS, and
// its session cookie is Secure with the __Host- prefix.
func TestTLSSecureCookies(t *testing.T) {
	dir := t.TempDir()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(priv)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	e := newEnv(t, Config{OneTimeSignIn: true, CertFile: certFile, KeyFile: keyFile})
	if !strings.HasPrefix(e.srv.URL(), "https://") {
		t.Fatalf("URL %s", e.srv.URL())
	}
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(e.srv.SignInURL())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, secureCookieName+"=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("cookie over TLS: %q", sc)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS header over TLS")
	}
}

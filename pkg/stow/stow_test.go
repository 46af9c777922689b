package stow

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/tlsconf"
)

// fakeStorer decides each part's fate from its first line:
// "OK <sop>", "FAIL <hex status> <sop>", anything else → C000.
type fakeStorer struct {
	mu       sync.Mutex
	stored   []string
	notReady error
	studies  []string
}

func (f *fakeStorer) Ready(ctx context.Context) error { return f.notReady }

func (f *fakeStorer) StoreInstance(ctx context.Context, r io.Reader, opt InstanceOptions) InstanceResult {
	b, err := io.ReadAll(io.LimitReader(r, opt.MaxBytes+1))
	if err != nil {
		return InstanceResult{Status: dicomstatus.ProcessingFailure}
	}
	if int64(len(b)) > opt.MaxBytes {
		return InstanceResult{Status: dicomstatus.OutOfResources}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.studies = append(f.studies, opt.StudyInstanceUID)
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	switch {
	case len(fields) == 2 && fields[0] == "OK":
		f.stored = append(f.stored, fields[1])
		return InstanceResult{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SOPInstanceUID: fields[1], Status: dicomstatus.Success}
	case len(fields) == 3 && fields[0] == "FAIL":
		var st uint16
		fmt.Sscanf(fields[1], "%x", &st)
		return InstanceResult{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SOPInstanceUID: fields[2], Status: dicomstatus.Code(st)}
	}
	return InstanceResult{Status: dicomstatus.CannotUnderstand}
}

func newServer(t testing.TB, cfg Config, st Storer) *Server {
	t.Helper()
	s, err := NewServer(cfg, st, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}

// body builds a multipart/related body of application/dicom parts.
func body(parts ...string) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		pw, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		io.WriteString(pw, p)
	}
	w.Close()
	return &buf, `multipart/related; type="application/dicom"; boundary=` + w.Boundary()
}

type stowResponse map[string]struct {
	VR    string           `json:"vr"`
	Value []map[string]any `json:"Value"`
}

func decodeResponse(t testing.TB, b []byte) stowResponse {
	t.Helper()
	var r stowResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("response is not DICOM JSON: %v\n%s", err, b)
	}
	return r
}

func failureReasons(r stowResponse) []int {
	var out []int
	for _, it := range r[tagFailedSOPSequence].Value {
		v := it[tagFailureReason].(map[string]any)["Value"].([]any)
		out = append(out, int(v[0].(float64)))
	}
	return out
}

func TestStatusSemantics(t *testing.T) {
	cases := []struct {
		name     string
		path     string
		parts    []string
		ctype    string // overrides the multipart content type
		accept   string
		method   string
		code     int
		stored   int
		failures []int
	}{
		{name: "all stored", path: "/dicomweb/studies", parts: []string{"OK 1.1", "OK 1.2"}, code: 200, stored: 2},
		{name: "some stored", path: "/dicomweb/studies", parts: []string{"OK 1.1", "FAIL A900 1.2"}, code: 202, stored: 1, failures: []int{0xA900}},
		{name: "none stored", path: "/dicomweb/studies", parts: []string{"FAIL 0122 1.1", "garbage"}, code: 409, failures: []int{0x0122, 0xC000}},
		{name: "study in the URL", path: "/dicomweb/studies/1.2.3", parts: []string{"OK 1.1"}, code: 200, stored: 1},
		{name: "study in the URL is not a UID", path: "/dicomweb/studies/abc", parts: []string{"OK 1.1"}, code: 400},
		{name: "no parts", path: "/dicomweb/studies", parts: nil, code: 400},
		{name: "not multipart", path: "/dicomweb/studies", parts: []string{"OK 1.1"}, ctype: "application/dicom", code: 415},
		{name: "metadata and bulk data are not accepted", path: "/dicomweb/studies", parts: []string{"OK 1.1"},
			ctype: `multipart/related; type="application/dicom+json"; boundary=x`, code: 415},
		{name: "no boundary", path: "/dicomweb/studies", parts: []string{"OK 1.1"}, ctype: `multipart/related; type="application/dicom"`, code: 400},
		{name: "XML response wanted", path: "/dicomweb/studies", parts: []string{"OK 1.1"}, accept: "application/dicom+xml", code: 406},
		{name: "JSON response wanted", path: "/dicomweb/studies", parts: []string{"OK 1.1"}, accept: "application/dicom+json", code: 200, stored: 1},
		{name: "GET is not served", path: "/dicomweb/studies", method: "GET", code: 405},
		{name: "unknown route", path: "/dicomweb/instances", parts: []string{"OK 1.1"}, code: 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &fakeStorer{}
			h := newServer(t, Config{AllowUnauthenticated: true}, st).Handler()
			buf, ct := body(c.parts...)
			if c.ctype != "" {
				ct = c.ctype
			}
			method := c.method
			if method == "" {
				method = "POST"
			}
			req := httptest.NewRequest(method, c.path, buf)
			req.Header.Set("Content-Type", ct)
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, rec.Body.String())
			}
			if len(st.stored) != c.stored {
				t.Errorf("%d stored, want %d", len(st.stored), c.stored)
			}
			if c.code == 200 || c.code == 202 || c.code == 409 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/dicom+json" {
					t.Errorf("response type %q", ct)
				}
				r := decodeResponse(t, rec.Body.Bytes())
				if got := len(r[tagReferencedSOPSequence].Value); got != c.stored {
					t.Errorf("ReferencedSOPSequence has %d items, want %d", got, c.stored)
				}
				if r[tagReferencedSOPSequence].VR != "SQ" {
					t.Errorf("ReferencedSOPSequence missing")
				}
				if fmt.Sprint(failureReasons(r)) != fmt.Sprint(c.failures) && !(len(c.failures) == 0 && len(failureReasons(r)) == 0) {
					t.Errorf("failure reasons %v, want %v", failureReasons(r), c.failures)
				}
			}
			if c.path == "/dicomweb/studies/1.2.3" && (len(st.studies) != 1 || st.studies[0] != "1.2.3") {
				t.Errorf("study from the URL not passed on: %v", st.studies)
			}
		})
	}
}

func TestStoreNotReady(t *testing.T) {
	st := &fakeStorer{notReady: errors.New("bucket unreachable")}
	h := newServer(t, Config{AllowUnauthenticated: true}, st).Handler()
	buf, ct := body("OK 1.1")
	req := httptest.NewRequest("POST", "/dicomweb/studies", buf)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestSizeCaps(t *testing.T) {
	st := &fakeStorer{}
	h := newServer(t, Config{AllowUnauthenticated: true, MaxInstanceBytes: 100, MaxRequestBytes: 2000}, st).Handler()
	// One part over the instance cap: it fails, the other is stored.
	buf, ct := body("OK 1.1", "OK 1.2\n"+strings.Repeat("x", 200))
	req := httptest.NewRequest("POST", "/dicomweb/studies", buf)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 202 || fmt.Sprint(failureReasons(decodeResponse(t, rec.Body.Bytes()))) != fmt.Sprint([]int{0xA700}) {
		t.Fatalf("instance cap: %d %s", rec.Code, rec.Body.String())
	}
	// A declared length over the request cap is refused before reading.
	buf, ct = body(strings.Repeat("x", 3000))
	req = httptest.NewRequest("POST", "/dicomweb/studies", buf)
	req.Header.Set("Content-Type", ct)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("declared length over the cap: %d", rec.Code)
	}
	// A chunked body that grows over the cap is cut off with 413.
	parts := []string{}
	for i := 0; i < 40; i++ {
		parts = append(parts, fmt.Sprintf("OK 1.%d\n%s", i, strings.Repeat("y", 60)))
	}
	buf, ct = body(parts...)
	req = httptest.NewRequest("POST", "/dicomweb/studies", io.MultiReader(buf))
	req.ContentLength = -1
	req.Header.Set("Content-Type", ct)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("body over the cap: %d %s", rec.Code, rec.Body.String())
	}
}

func TestTooManyParts(t *testing.T) {
	st := &fakeStorer{}
	h := newServer(t, Config{AllowUnauthenticated: true, MaxParts: 2}, st).Handler()
	buf, ct := body("OK 1.1", "OK 1.2", "OK 1.3")
	req := httptest.NewRequest("POST", "/dicomweb/studies", buf)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 || len(st.stored) != 2 {
		t.Fatalf("status %d, %d stored", rec.Code, len(st.stored))
	}
}

func TestBearerTokens(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("# site tokens\nfirst-token-0123456789\n\n second-token-0123456789 \n"), 0o600)
	st := &fakeStorer{}
	h := newServer(t, Config{TokensFile: tokens}, st).Handler()
	cases := []struct {
		auth string
		code int
	}{
		{"", 401},
		{"Bearer wrong-token-0123456789", 401},
		{"Basic Zm9vOmJhcg==", 401},
		{"Bearer", 401},
		{"Bearer first-token-0123456789", 200},
		{"bearer second-token-0123456789", 200},
	}
	for _, c := range cases {
		buf, ct := body("OK 1.1")
		req := httptest.NewRequest("POST", "/dicomweb/studies", buf)
		req.Header.Set("Content-Type", ct)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("%q: status %d, want %d", c.auth, rec.Code, c.code)
		}
		if c.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: no WWW-Authenticate challenge", c.auth)
		}
	}
}

func TestConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	for name, cfg := range map[string]Config{
		"no authentication": {},
		"short token":       {TokensFile: short},
		"no token":          {TokensFile: empty},
		"missing file":      {TokensFile: filepath.Join(dir, "none")},
		"TLS without key":   {AllowUnauthenticated: true, TLS: tlsconf.Config{CertFile: "x"}},
	} {
		if _, err := NewServer(cfg, &fakeStorer{}, zerolog.Nop()); err == nil {
			t.Errorf("%s: NewServer succeeded", name)
		}
	}
	// Errors never quote a token.
	_, err := NewServer(Config{TokensFile: short}, &fakeStorer{}, zerolog.Nop())
	if err == nil || strings.Contains(err.Error(), "tooshort") {
		t.Errorf("error quotes the token: %v", err)
	}
}

// pki is a CA with a server and a client certificate.
type pki struct {
	dir                 string
	caPool              *x509.CertPool
	serverCert, serverK string
	clientCert          tls.Certificate
	caFile              string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600)
		return p
	}
	p := &pki{dir: dir, caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := issue("localhost", x509.ExtKeyUsageServerAuth)
	skb, _ := x509.MarshalECPrivateKey(sKey)
	p.serverCert, p.serverK = write("server.pem", "CERTIFICATE", sDER), write("server.key", "EC PRIVATE KEY", skb)
	cDER, cKey := issue("modality-router", x509.ExtKeyUsageClientAuth)
	p.clientCert = tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cKey}
	return p
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	st := &fakeStorer{}
	s := newServer(t, Config{TLS: tlsconf.Config{CertFile: p.serverCert, KeyFile: p.serverK, ClientCAFile: p.caFile}}, st)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "https://" + ln.Addr().String() + "/dicomweb/studies"
	post := func(certs []tls.Certificate) (int, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool, Certificates: certs}}}
		defer c.CloseIdleConnections()
		buf, ct := body("OK 1.1")
		resp, err := c.Post(url, ct, buf)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := post(nil); err == nil {
		t.Errorf("request without a client certificate answered %d", code)
	}
	if code, err := post([]tls.Certificate{p.clientCert}); err != nil || code != 200 {
		t.Errorf("request with a client certificate: %d %v", code, err)
	}
	if len(st.stored) != 1 {
		t.Errorf("%d stored", len(st.stored))
	}
}

// stallingBody sends a beginning and then nothing.
type stallingBody struct {
	head    []byte
	release chan struct{}
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	<-s.release
	return 0, io.ErrUnexpectedEOF
}

func TestSlowSenderTimesOut(t *testing.T) {
	st := &fakeStorer{}
	s := newServer(t, Config{AllowUnauthenticated: true, IdleTimeout: 300 * time.Millisecond}, st)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	buf, ct := body("OK 1.1", "OK 1.2")
	full := buf.Bytes()
	sb := &stallingBody{head: full[:len(full)/2], release: make(chan struct{})}
	defer close(sb.release)
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/dicomweb/studies", sb)
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("stalled request answered 200")
		}
	}
	// Whatever the client saw, the second (incomplete) part is not stored.
	if len(st.stored) > 1 {
		t.Fatalf("%d stored", len(st.stored))
	}
}

func TestAcceptsJSON(t *testing.T) {
	for h, want := range map[string]bool{
		"": true, "application/dicom+json": true, "application/json, text/plain": true,
		"*/*": true, "application/dicom+xml": false, "text/html": false, "multipart/related; type=application/dicom+xml": false,
	} {
		if acceptsJSON(h) != want {
			t.Errorf("acceptsJSON(%q) = %v", h, !want)
		}
	}
}

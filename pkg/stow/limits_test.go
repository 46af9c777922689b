package stow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// logBuffer collects a server's log lines from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// blockingStorer holds every part whose first line is "BLOCK" until
// release is closed, telling entered when it starts holding one; other
// parts go to fakeStorer.
type blockingStorer struct {
	fakeStorer
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStorer) StoreInstance(ctx context.Context, r io.Reader, opt InstanceOptions) InstanceResult {
	data, err := io.ReadAll(r)
	if err != nil {
		return InstanceResult{Status: 0x0110}
	}
	if bytes.HasPrefix(data, []byte("BLOCK")) {
		b.entered <- struct{}{}
		<-b.release
		return b.fakeStorer.StoreInstance(ctx, strings.NewReader("OK 9.9"), opt)
	}
	return b.fakeStorer.StoreInstance(ctx, bytes.NewReader(data), opt)
}

// clientFrom posts from the loopback address ip; it skips the test where
// the address cannot be bound.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	probe, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("cannot use %s here: %v", ip, err)
		}
		t.Fatal(err)
	}
	probe.Close()
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func post(t *testing.T, c *http.Client, url string, parts ...string) (int, http.Header) {
	t.Helper()
	buf, ct := body(parts...)
	resp, err := c.Post(url, ct, buf)
	if err != nil {
		t.Errorf("POST: %v", err)
		return 0, nil
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// TestRequestsPerAddress: requests held in flight from one address take
// its share; the next one from it gets 503 with Retry-After while another
// address is still served, unless the total is what is reached.
func TestRequestsPerAddress(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		hold      int // requests held from the first address
		otherCode int // a request from the second address meanwhile
		reason    string
	}{
		{name: "default", hold: DefaultMaxConcurrentRequestsPerAddress, otherCode: 200, reason: "address_request_limit"},
		{name: "set", cfg: Config{MaxConcurrentRequestsPerAddress: 2}, hold: 2, otherCode: 200, reason: "address_request_limit"},
		{name: "total reached first", cfg: Config{MaxConcurrentRequests: 3}, hold: 3, otherCode: 503, reason: "request_limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &blockingStorer{entered: make(chan struct{}), release: make(chan struct{})}
			logs := &logBuffer{}
			cfg := c.cfg
			cfg.AllowUnauthenticated = true
			s, err := NewServer(cfg, st, zerolog.New(logs))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			url := "http://" + ln.Addr().String() + "/dicomweb/studies"
			a, b := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")

			var wg sync.WaitGroup
			codes := make(chan int, c.hold)
			for i := 0; i < c.hold; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, _ := post(t, a, url, "BLOCK")
					codes <- code
				}()
			}
			released := false
			defer func() {
				if !released {
					close(st.release)
				}
			}()
			for i := 0; i < c.hold; i++ {
				select {
				case <-st.entered:
				case <-time.After(30 * time.Second):
					t.Fatalf("only %d of %d requests in flight", i, c.hold)
				}
			}
			code, h := post(t, a, url, "OK 1.1")
			if code != 503 || h.Get("Retry-After") == "" {
				t.Errorf("one more from the same address: %d, Retry-After %q", code, h.Get("Retry-After"))
			}
			if code, _ := post(t, b, url, "OK 1.2"); code != c.otherCode {
				t.Errorf("from another address: %d, want %d", code, c.otherCode)
			}
			close(st.release)
			released = true
			wg.Wait()
			close(codes)
			for code := range codes {
				if code != 200 {
					t.Errorf("held request answered %d", code)
				}
			}
			if code, _ := post(t, a, url, "OK 1.3"); code != 200 {
				t.Errorf("after the held requests finished: %d", code)
			}
			if got := logs.lines(`"reason":"`+c.reason+`"`, `"peer":"127.0.0.2:`); len(got) != 1 {
				t.Errorf("busy lines %q", got)
			}
			if n := s.Stats().Busy; n != uint64(1+boolInt(c.otherCode == 503)) {
				t.Errorf("Busy = %d", n)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAuthFailuresLogged: each refused authentication is logged with the
// peer and the reason and never with what was presented; repeats from one
// address are held back and counted.
func TestAuthFailuresLogged(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	const good = "the-right-token-0123456789"
	if err := os.WriteFile(tokens, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := NewServer(Config{TokensFile: tokens}, &fakeStorer{}, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	do := func(peer, auth string) int {
		buf, ct := body("OK 1.1")
		req := httptest.NewRequest("POST", "/dicomweb/studies", buf)
		req.RemoteAddr = peer
		req.Header.Set("Content-Type", ct)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		peer, auth, reason string
	}{
		{"192.0.2.1:1001", "", "missing_token"},
		{"192.0.2.2:1002", "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=", "malformed_authorization"},
		{"192.0.2.3:1003", "Bearer    ", "malformed_authorization"},
		{"192.0.2.4:1004", "Bearer guessed-token-secret-0123", "unknown_token"},
		{"[2001:db8::5]:1005", "Bearer the-right-token-012345678", "unknown_token"},
	}
	for _, c := range cases {
		if code := do(c.peer, c.auth); code != 401 {
			t.Fatalf("%s %q: %d", c.peer, c.auth, code)
		}
		got := logs.lines(`"peer":"`+c.peer+`"`, `"reason":"`+c.reason+`"`, `"level":"warn"`)
		if len(got) != 1 {
			t.Errorf("%s %q: lines %q\nlog:\n%s", c.peer, c.auth, got, logs)
		}
	}
	for _, secret := range []string{"c2VjcmV0", "guessed-token", "the-right-token", "Bearer", "Basic"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	// Guessing in a loop from one address: one line, the rest counted.
	before := len(logs.lines(`"peer":"192.0.2.9:`))
	for i := 0; i < 20; i++ {
		do("192.0.2.9:2000", fmt.Sprintf("Bearer guess-%02d-0123456789abcdef", i))
	}
	if got := len(logs.lines(`"peer":"192.0.2.9:`)) - before; got != 1 {
		t.Errorf("%d lines for 20 guesses from one address", got)
	}
	if n := s.Stats().Unauthorized; n != uint64(len(cases)+20) {
		t.Errorf("Unauthorized = %d", n)
	}
	if code := do("192.0.2.9:2001", "Bearer "+good); code != 200 {
		t.Errorf("the right token after guesses: %d", code)
	}
}

// TestUnreadableMultipartLogged: a multipart body that cannot be read is
// logged with a reason code, never with the offending text.
func TestUnreadableMultipartLogged(t *testing.T) {
	const boundary = "b0und4ry"
	const secret = "DOE^JANE 1970-01-01 MRN 12345"
	many := strings.Repeat("X-H: v\r\n", 10_001)
	cases := []struct {
		name, body, reason string
		code               int
	}{
		{name: "header line without a colon", code: 400, reason: "malformed_part_header",
			body: "--" + boundary + "\r\nContent-Type: application/dicom\r\n" + secret + "\r\n\r\nOK 1.1\r\n--" + boundary + "--\r\n"},
		{name: "continuation line first", code: 400, reason: "malformed_part_header",
			body: "--" + boundary + "\r\n " + secret + "\r\n\r\nOK 1.1\r\n--" + boundary + "--\r\n"},
		{name: "malformed second part", code: 202, reason: "malformed_part_header",
			body: "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\nOK 1.1\r\n--" + boundary + "\r\n" + secret + "\r\n\r\nx\r\n--" + boundary + "--\r\n"},
		{name: "too many header lines", code: 400, reason: "part_header_too_large",
			body: "--" + boundary + "\r\n" + many + "X-Note: " + secret + "\r\n\r\nOK 1.1\r\n--" + boundary + "--\r\n"},
		{name: "cut after a boundary", code: 202, reason: "truncated",
			body: "--" + boundary + "\r\nContent-Type: application/dicom\r\nX-Note: " + secret + "\r\n\r\nOK 1.1\r\n--" + boundary},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuffer{}
			st := &fakeStorer{}
			s, err := NewServer(Config{AllowUnauthenticated: true}, st, zerolog.New(logs))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/dicomweb/studies", strings.NewReader(c.body))
			req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != c.code {
				t.Errorf("status %d, want %d: %s", rec.Code, c.code, rec.Body)
			}
			if got := logs.lines(`"reason":"`+c.reason+`"`, "multipart body unreadable"); len(got) != 1 {
				t.Errorf("lines %q, want one with reason %s\nlog:\n%s", got, c.reason, logs)
			}
			for _, part := range []string{"DOE", "JANE", "12345", "X-H"} {
				if strings.Contains(logs.String(), part) {
					t.Errorf("the log holds %q:\n%s", part, logs)
				}
			}
		})
	}
}

// TestTokensFileMode: a tokens file others can read or change is refused,
// like the site secret; the error names the file, not a token.
func TestTokensFileMode(t *testing.T) {
	const tok = "mode-test-token-0123456789"
	cases := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o620, false}, {0o644, false}, {0o700, true},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := NewServer(Config{TokensFile: p}, &fakeStorer{}, zerolog.Nop())
			if c.ok != (err == nil) {
				t.Fatalf("NewServer: %v", err)
			}
			if !c.ok && (!errors.Is(err, ErrTokensExposed) || strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), p)) {
				t.Errorf("error %v", err)
			}
		})
	}
}

func TestMultipartFailureCodes(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&http.MaxBytesError{Limit: 10}, "request_too_large"},
		{fmt.Errorf("wrapped: %w", os.ErrDeadlineExceeded), "read_timeout"},
		{fmt.Errorf("multipart: NextPart: %w", io.EOF), "truncated"},
		{io.ErrUnexpectedEOF, "truncated"},
		{errors.New(`multipart: expecting a new Part; got line "secret"`), "unexpected_line_between_parts"},
		{errors.New(`multipart: unexpected line in Next(): "secret"`), "unexpected_line_between_parts"},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, "connection_error"},
		{errors.New("something else"), "unreadable"},
	}
	for _, c := range cases {
		if got := multipartFailure(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

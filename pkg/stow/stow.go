// Package stow is a DICOMweb STOW-RS endpoint (PS3.18 10.5): POST
// {base}/studies and {base}/studies/{study} with multipart/related bodies
// of application/dicom parts.
//
// Bodies are read part by part with mime/multipart and each part is handed
// to the Storer as a stream, so neither the request nor an instance is ever
// held in memory. The response is the PS3.18 JSON: ReferencedSOPSequence for
// what was stored, FailedSOPSequence with a FailureReason for what was not,
// and 200 (all stored), 202 (some), 409 (none) or 400/413/415 when the
// request itself is unusable.
package stow

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/loglimit"
	"github.com/printreg/printreg/pkg/tlsconf"
)

// Storer stores the instances of a request.
type Storer interface {
	// Ready reports whether instances can be stored now (the store is
	// reachable and not full); requests are refused with 503 otherwise.
	Ready(ctx context.Context) error
	// StoreInstance reads one Part 10 instance from r and stores it, or
	// says why not. It returns once the instance is durable.
	StoreInstance(ctx context.Context, r io.Reader, opt InstanceOptions) InstanceResult
}

// InstanceOptions qualify one part.
type InstanceOptions struct {
	// StudyInstanceUID, when set, is the study of the request URL: an
	// instance of another study is refused.
	StudyInstanceUID string
	// MaxBytes bounds the instance.
	MaxBytes int64
	// Client names the authenticated client for logs (token number or
	// certificate subject), never a secret.
	Client string
}

// InstanceResult is the outcome for one part.
type InstanceResult struct {
	// SOPClassUID and SOPInstanceUID as read from the instance; empty
	// when it could not be read that far.
	SOPClassUID, SOPInstanceUID string
	// Status is success or the failure reason.
	Status dicomstatus.Code
	// Comment says why, for logs (no identifiers).
	Comment string
}

// Defaults of Config.
const (
	DefaultBasePath                        = "/dicomweb"
	DefaultMaxRequestBytes                 = 16 << 30
	DefaultMaxInstanceBytes                = 4 << 30
	DefaultMaxParts                        = 100_000
	DefaultMaxConcurrentRequests           = 16
	DefaultMaxConcurrentRequestsPerAddress = 4
	DefaultIdleTimeout                     = 2 * time.Minute
	DefaultReadHeaderTimeout               = 30 * time.Second
)

// Config configures the STOW-RS endpoint.
type Config struct {
	// Listen is the TCP address for Run-style wiring (e.g. ":8104").
	Listen string `yaml:"listen"`
	// BasePath prefixes the routes (default "/dicomweb": POST
	// /dicomweb/studies).
	BasePath string `yaml:"base_path"`
	// TokensFile holds the accepted bearer tokens, one per line (blank lines
	// and lines starting with # are ignored). Tokens are compared in
	// constant time.
	TokensFile string `yaml:"tokens_file"`
	// TLS, when it names any file, serves HTTPS; with ClientCAFile set,
	// clients must present a certificate signed by those CAs (mutual TLS).
	TLS tlsconf.Config `yaml:"tls"`
	// AllowUnauthenticated must be set to serve without tokens and without
	// client certificates (a closed test network only).
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// ForceUnauthenticatedBeyondLoopback lets a configuration check accept
	// AllowUnauthenticated on a Listen address that other machines can
	// reach (a closed test network only). Like Listen it is for the
	// wiring: the server serves whatever listener it is given.
	ForceUnauthenticatedBeyondLoopback bool `yaml:"force_unauthenticated_beyond_loopback"`
	// MaxRequestBytes bounds a request body (default 16 GiB): 413 beyond.
	MaxRequestBytes confval.ByteSize `yaml:"max_request_bytes" confval:"positive"`
	// MaxInstanceBytes bounds one part (default 4 GiB): that instance fails
	// with A700, the others are stored.
	MaxInstanceBytes confval.ByteSize `yaml:"max_instance_bytes" confval:"positive"`
	// MaxParts bounds the parts of one request (default 100,000).
	MaxParts int `yaml:"max_parts" confval:"positive"`
	// MaxConcurrentRequests bounds requests being stored at once (default
	// 16): 503 with Retry-After beyond.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests" confval:"positive"`
	// MaxConcurrentRequestsPerAddress bounds the requests being stored at
	// once from one remote address (default 4): 503 with Retry-After
	// beyond, so that one host cannot take every request slot. Behind a
	// reverse proxy every request comes from the proxy's address: raise it
	// to MaxConcurrentRequests there.
	MaxConcurrentRequestsPerAddress int `yaml:"max_concurrent_requests_per_address" confval:"positive"`
	// IdleTimeout bounds the silence between body bytes (default 2 min),
	// so a stalled sender does not hold a request slot.
	IdleTimeout time.Duration `yaml:"idle_timeout" confval:"positive"`
	// ReadHeaderTimeout bounds reading request headers (default 30 s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" confval:"positive"`
}

// DefaultConfig returns the defaults of Config; Listen has none.
func DefaultConfig() Config {
	return Config{
		BasePath: DefaultBasePath, MaxRequestBytes: DefaultMaxRequestBytes, MaxInstanceBytes: DefaultMaxInstanceBytes,
		MaxParts: DefaultMaxParts, MaxConcurrentRequests: DefaultMaxConcurrentRequests,
		MaxConcurrentRequestsPerAddress: DefaultMaxConcurrentRequestsPerAddress,
		IdleTimeout:                     DefaultIdleTimeout, ReadHeaderTimeout: DefaultReadHeaderTimeout,
	}
}

// withDefaults fills unset fields from DefaultConfig (see
// confval.FillDefaults: a field tagged positive is unset when zero or
// negative), then normalises BasePath: "/dicom-web/" serves under
// /dicom-web, "/" at the root.
func (c Config) withDefaults() Config {
	confval.FillDefaults(&c, DefaultConfig())
	c.BasePath = "/" + strings.Trim(c.BasePath, "/")
	if c.BasePath == "/" {
		c.BasePath = ""
	}
	return c
}

// Server is the STOW-RS endpoint.
type Server struct {
	cfg       Config
	st        Storer
	log       zerolog.Logger
	tokens    [][32]byte // SHA-256 of each token
	tlsConfig *tls.Config
	slots     chan struct{}

	mu      sync.Mutex
	perAddr map[netip.Addr]int // requests being stored, per remote address
	// quiet limits the log lines of failed authentications per address
	// and reason.
	quiet loglimit.Limiter

	stored, failed, requests, unauthorized, busy atomic.Uint64
}

// Authenticated tells whether clients must prove who they are: a bearer
// token, or a certificate from the client CA.
func (c Config) Authenticated() bool { return c.TokensFile != "" || c.TLS.ClientCAFile != "" }

// NewServer validates cfg, loads the tokens and certificates, and returns
// the endpoint.
func NewServer(cfg Config, st Storer, log zerolog.Logger) (*Server, error) {
	if st == nil {
		return nil, errors.New("stow: a storer is required")
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, st: st, log: log.With().Str("component", "stow").Logger(),
		slots: make(chan struct{}, cfg.MaxConcurrentRequests), perAddr: map[netip.Addr]int{}}
	var errs []error
	if cfg.TokensFile != "" {
		toks, err := LoadTokens(cfg.TokensFile)
		if err != nil {
			errs = append(errs, err)
		}
		s.tokens = toks
	}
	if cfg.TLS.Enabled() {
		tc, err := cfg.TLS.Load()
		if err != nil {
			errs = append(errs, fmt.Errorf("stow: %w", err))
		}
		s.tlsConfig = tc
	}
	if !cfg.Authenticated() && !cfg.AllowUnauthenticated {
		errs = append(errs, errors.New("stow: no authentication configured: set tokens_file, tls.client_ca_file, or allow_unauthenticated"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// ErrTokensExposed is returned by LoadTokens for a tokens file that users
// other than its owner can read or change.
var ErrTokensExposed = errors.New("tokens file is open to other users")

// LoadTokens reads bearer tokens, one per line, and keeps their SHA-256
// digests, so that comparison time does not depend on token lengths. The
// file must be its owner's alone (mode 0600 or stricter). Errors name the
// file, never its content.
func LoadTokens(path string) ([][32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("stow: reading the tokens file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stow: reading the tokens file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("stow: the tokens file %s is open to other users (mode %v); chmod 600 it: %w", path, st.Mode().Perm(), ErrTokensExposed)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("stow: reading the tokens file: %w", err)
	}
	var out [][32]byte
	for i, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) < 16 {
			return nil, fmt.Errorf("stow: tokens file line %d: token shorter than 16 characters", i+1)
		}
		out = append(out, sha256.Sum256([]byte(t)))
	}
	if len(out) == 0 {
		return nil, errors.New("stow: the tokens file holds no token")
	}
	return out, nil
}

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the HTTP handler for the STOW-RS routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.BasePath+"/studies", s.serveStudies)
	mux.HandleFunc(s.cfg.BasePath+"/studies/{study}", s.serveStudies)
	return mux
}

// Serve serves HTTP (HTTPS with TLS configured) on ln until ctx is
// cancelled, then shuts down gracefully. It returns nil after a shutdown
// through ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          stdlog.New(s.log.With().Str("source", "http").Logger(), "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.tlsConfig != nil {
		hs.TLSConfig = s.tlsConfig
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("stow: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.IdleTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	<-errc
	return nil
}

// Reasons an authentication fails, as logged.
const (
	authNoCertificate = "no_client_certificate"
	authMissing       = "missing_token"
	authMalformed     = "malformed_authorization"
	authUnknown       = "unknown_token"
)

// authenticate checks the bearer token and the client certificate. It
// returns a name for the client (for logs), or why it failed.
func (s *Server) authenticate(r *http.Request) (client, failure string) {
	client = "anonymous"
	if s.cfg.TLS.ClientCAFile != "" {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return "", authNoCertificate
		}
		client = "cert:" + r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	if len(s.tokens) == 0 {
		return client, ""
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", authMissing
	}
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) || strings.TrimSpace(h[len(prefix):]) == "" {
		return "", authMalformed
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	match := 0
	for i, t := range s.tokens {
		// Every token is compared: the time does not say which matched.
		if subtle.ConstantTimeCompare(sum[:], t[:]) == 1 {
			match = i + 1
		}
	}
	if match == 0 {
		return "", authUnknown
	}
	if client == "anonymous" {
		client = "token#" + strconv.Itoa(match)
	}
	return client, ""
}

// peerAddr is the request's remote IP address (invalid when it is not
// host:port, as with a handler mounted behind something unusual).
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// logAuthFailure logs a refused authentication with the peer and the
// reason, never what was presented, at most once per address and reason
// every 10 s with the count of those held back.
func (s *Server) logAuthFailure(r *http.Request, reason string) {
	s.unauthorized.Add(1)
	if ok, suppressed := s.quiet.Allow(peerAddr(r).String() + " " + reason); ok {
		s.log.Warn().Str("peer", r.RemoteAddr).Str("reason", reason).Uint64("suppressed", suppressed).
			Msg("STOW-RS request refused: authentication failed")
	}
}

// acquire takes a request slot for addr, in all and for the address; it
// says which limit is reached when it cannot.
func (s *Server) acquire(addr netip.Addr) (release func(), limit string) {
	s.mu.Lock()
	if s.perAddr[addr] >= s.cfg.MaxConcurrentRequestsPerAddress {
		s.mu.Unlock()
		return nil, "address_request_limit"
	}
	s.perAddr[addr]++
	s.mu.Unlock()
	unaddr := func() {
		s.mu.Lock()
		if s.perAddr[addr]--; s.perAddr[addr] <= 0 {
			delete(s.perAddr, addr)
		}
		s.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; unaddr() }, ""
	default:
		unaddr()
		return nil, "request_limit"
	}
}

// multipartFailure names, as a fixed reason code, why the multipart body
// could not be read. The error itself is never logged: mime/multipart and
// net/textproto quote the offending line, which is the sender's text.
func multipartFailure(err error) string {
	var mbe *http.MaxBytesError
	var pe textproto.ProtocolError
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.As(err, &mbe):
		return "request_too_large"
	case errors.As(err, &pe) || strings.Contains(msg, "malformed MIME header"):
		return "malformed_part_header"
	case strings.Contains(msg, "message too large"):
		return "part_header_too_large"
	case strings.Contains(msg, "multipart: expecting a new Part") || strings.Contains(msg, "multipart: unexpected line"):
		return "unexpected_line_between_parts"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "read_timeout"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated"
	case errors.As(err, &ne):
		return "connection_error"
	}
	return "unreadable"
}

// Attribute tags of the response (PS3.18 Table 10.5.3-2).
const (
	tagRetrieveURL           = "00081190"
	tagFailedSOPSequence     = "00081198"
	tagReferencedSOPSequence = "00081199"
	tagReferencedSOPClass    = "00081150"
	tagReferencedSOPInstance = "00081155"
	tagFailureReason         = "00081197"
)

// jsonAttr is one attribute of the DICOM JSON model (PS3.18 F.2).
type jsonAttr struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

type response struct {
	referenced, failed []any
}

func (resp *response) add(res InstanceResult) {
	item := map[string]jsonAttr{}
	if res.SOPClassUID != "" {
		item[tagReferencedSOPClass] = jsonAttr{VR: "UI", Value: []any{res.SOPClassUID}}
	}
	if res.SOPInstanceUID != "" {
		item[tagReferencedSOPInstance] = jsonAttr{VR: "UI", Value: []any{res.SOPInstanceUID}}
	}
	if res.Status.IsSuccess() {
		resp.referenced = append(resp.referenced, item)
		return
	}
	item[tagFailureReason] = jsonAttr{VR: "US", Value: []any{uint16(res.Status)}}
	resp.failed = append(resp.failed, item)
}

func (resp *response) body() []byte {
	m := map[string]jsonAttr{tagReferencedSOPSequence: {VR: "SQ", Value: resp.referenced}}
	if len(resp.failed) > 0 {
		m[tagFailedSOPSequence] = jsonAttr{VR: "SQ", Value: resp.failed}
	}
	b, _ := json.Marshal(m)
	return b
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// acceptsJSON reports whether the Accept header allows the JSON response.
func acceptsJSON(h string) bool {
	if h == "" {
		return true
	}
	for _, part := range strings.Split(h, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/dicom+json", "application/json", "*/*", "application/*":
			return true
		}
	}
	return false
}

func validUID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func (s *Server) serveStudies(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	client, failure := s.authenticate(r)
	if failure != "" {
		s.logAuthFailure(r, failure)
		w.Header().Set("WWW-Authenticate", `Bearer realm="printreg"`)
		plain(w, http.StatusUnauthorized, "authentication required")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "only POST (store instances) is served here")
		return
	}
	study := r.PathValue("study")
	if study != "" && !validUID(study) {
		plain(w, http.StatusBadRequest, "the study in the URL is not a UID")
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		plain(w, http.StatusUnsupportedMediaType, `expected Content-Type multipart/related; type="application/dicom"`)
		return
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
		plain(w, http.StatusUnsupportedMediaType, `only type="application/dicom" parts are accepted`)
		return
	}
	boundary := params["boundary"]
	if boundary == "" {
		plain(w, http.StatusBadRequest, "multipart body without a boundary")
		return
	}
	if !acceptsJSON(r.Header.Get("Accept")) {
		plain(w, http.StatusNotAcceptable, "the response is application/dicom+json")
		return
	}
	if r.ContentLength > int64(s.cfg.MaxRequestBytes) {
		plain(w, http.StatusRequestEntityTooLarge, "request larger than the configured limit")
		return
	}
	release, limit := s.acquire(peerAddr(r))
	if limit != "" {
		s.busy.Add(1)
		// Rate-limited like failed sign-ins: a host hammering the limit
		// must not flood the log.
		if ok, suppressed := s.quiet.Allow(peerAddr(r).String() + " " + limit); ok {
			s.log.Info().Str("peer", r.RemoteAddr).Str("client", client).Str("reason", limit).Uint64("suppressed", suppressed).Msg("STOW-RS request refused: too many concurrent requests")
		}
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "too many concurrent requests")
		return
	}
	// The slots are given back before the answer is written, so that a
	// client sending its next request as soon as it has the answer finds
	// them free.
	var once sync.Once
	done := func() { once.Do(release) }
	defer done()
	if err := s.st.Ready(r.Context()); err != nil {
		done()
		s.log.Warn().Err(err).Msg("store not ready: refusing the request")
		w.Header().Set("Retry-After", "30")
		plain(w, http.StatusServiceUnavailable, "storage unavailable")
		return
	}

	body := &idleReader{r: http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxRequestBytes)), rc: http.NewResponseController(w), idle: s.cfg.IdleTimeout}
	mr := multipart.NewReader(body, boundary)
	var resp response
	parts, stored := 0, 0
	code := 0
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				code = http.StatusRequestEntityTooLarge
				resp.add(InstanceResult{Status: dicomstatus.OutOfResources})
			case parts == 0:
				code = http.StatusBadRequest
			default:
				resp.add(InstanceResult{Status: dicomstatus.CannotUnderstand})
			}
			s.log.Info().Str("peer", r.RemoteAddr).Str("client", client).Str("reason", multipartFailure(err)).
				Int("parts", parts).Msg("multipart body unreadable")
			break
		}
		parts++
		if parts > s.cfg.MaxParts {
			part.Close()
			code = http.StatusRequestEntityTooLarge
			resp.add(InstanceResult{Status: dicomstatus.OutOfResources})
			break
		}
		res := s.storePart(r.Context(), part, study, client)
		part.Close()
		resp.add(res)
		if res.Status.IsSuccess() {
			stored++
			s.stored.Add(1)
		} else {
			s.failed.Add(1)
		}
		if r.Context().Err() != nil {
			break
		}
	}
	done()
	failed := len(resp.failed)
	if code == 0 {
		switch {
		case parts == 0:
			code = http.StatusBadRequest
		case failed == 0:
			code = http.StatusOK
		case stored == 0:
			code = http.StatusConflict
		default:
			code = http.StatusAccepted
		}
	}
	s.log.Info().Str("client", client).Int("parts", parts).Int("stored", stored).Int("failed", failed).
		Int("status", code).Msg("STOW-RS request")
	if code == http.StatusBadRequest && parts == 0 {
		plain(w, code, "no DICOM part in the multipart body")
		return
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(code)
	_, _ = w.Write(resp.body())
}

// storePart checks a part's headers and stores its instance.
func (s *Server) storePart(ctx context.Context, part *multipart.Part, study, client string) InstanceResult {
	ct := part.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.EqualFold(mt, "application/dicom") {
			return InstanceResult{Status: dicomstatus.CannotUnderstand, Comment: "part is not application/dicom"}
		}
	}
	if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "" && !strings.EqualFold(cte, "binary") {
		return InstanceResult{Status: dicomstatus.CannotUnderstand, Comment: "part uses a content transfer encoding"}
	}
	res := s.st.StoreInstance(ctx, part, InstanceOptions{StudyInstanceUID: study, MaxBytes: int64(s.cfg.MaxInstanceBytes), Client: client})
	if !res.Status.IsSuccess() {
		s.log.Info().Str("client", client).Str("status", res.Status.String()).Str("reason", res.Comment).Msg("instance not stored")
	}
	return res
}

// idleReader extends the connection's read deadline as the body is read,
// so that the idle timeout bounds the silence between bytes.
type idleReader struct {
	r       io.Reader
	rc      *http.ResponseController
	idle    time.Duration
	lastSet time.Time
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(ir.lastSet) > ir.idle/8 {
		_ = ir.rc.SetReadDeadline(now.Add(ir.idle))
		ir.lastSet = now
	}
	return ir.r.Read(p)
}

// Stats are cumulative counters.
type Stats struct {
	Requests, Stored, Failed uint64
	// Unauthorized counts requests refused with 401; Busy those refused
	// with 503 because a concurrency limit (in all or per address) was
	// reached.
	Unauthorized, Busy uint64
}

// Stats returns the endpoint's counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Stored: s.stored.Load(), Failed: s.failed.Load(),
		Unauthorized: s.unauthorized.Load(), Busy: s.busy.Load()}
}

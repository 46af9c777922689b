// Package console is printreg's web console: a server-rendered site where a
// 3D lab writes its case.json and uploads models, a registry coordinator
// sees which cases are ready and what is missing and exports them, and an
// operator reads the dead-letter stream, re-drives entries and checks the
// health of the pipeline.
//
// Nothing it shows identifies a patient: cases are named by their keyed
// hash (the case id), every fact comes from the published, de-identified
// case snapshot, and the one identifier a person may type — an accession
// number or StudyInstanceUID, to find a case or to write into its folder —
// arrives in a POST body, is hashed or used as the object key at once, and
// is never stored, logged or written back into a page or a URL.
//
// Sign-in is by a users file of bcrypt hashes, by a trusted reverse proxy's
// header, or (the embedded default) by a one-time URL. Every form carries
// a per-session token checked on each POST; cookies are HttpOnly and
// SameSite=Strict, and Secure under TLS. Sign-ins and actions are written
// to an audit log without identifiers.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Roles a user can hold.
const (
	// RoleLab writes case.json and uploads models.
	RoleLab = "lab"
	// RoleCoordinator exports ready cases.
	RoleCoordinator = "coordinator"
	// RoleOperator reads the dead-letter stream, re-drives entries and
	// sees the pipeline's health.
	RoleOperator = "operator"
)

// AllRoles lists every role.
var AllRoles = []string{RoleLab, RoleCoordinator, RoleOperator}

// ValidRole reports whether r names a role.
func ValidRole(r string) bool {
	for _, x := range AllRoles {
		if r == x {
			return true
		}
	}
	return false
}

// Config is the console's configuration.
type Config struct {
	// Listen is the address to serve on (host:port).
	Listen string
	// UsersFile holds one user per line: name:bcrypt-hash:roles.
	UsersFile string
	// Proxy, when its UserHeader is set, takes the signed-in user from a
	// header set by a reverse proxy at one of the Trusted addresses; every
	// other sign-in method is then off.
	Proxy ProxyConfig
	// OneTimeSignIn issues a random sign-in URL, valid once, exchanged for
	// a session with every role; a new one is made after each use and
	// written to SignInURLFile.
	OneTimeSignIn bool
	// SignInURLFile receives the current one-time sign-in URL (mode 0600).
	SignInURLFile string
	// CertFile and KeyFile serve HTTPS.
	CertFile, KeyFile string
	// SecureCookies marks cookies Secure without TLS here (a proxy that
	// terminates TLS in front).
	SecureCookies bool
	// AuditFile, when set, receives the audit lines too (JSON lines,
	// appended, mode 0600).
	AuditFile string
	// SessionIdle ends a session unused this long; SessionMax ends any
	// session this long after sign-in.
	SessionIdle, SessionMax time.Duration
	// MaxUploadBytes caps one uploaded model.
	MaxUploadBytes int64
	// ModelsPrefix is the raw-bucket prefix labs drop their case folders
	// under (processing.models_prefix); "" for the top level.
	ModelsPrefix string
}

// ProxyConfig is sign-in by a trusted reverse proxy.
type ProxyConfig struct {
	// UserHeader names the header holding the signed-in user's name.
	UserHeader string
	// RolesHeader, when set, names a header listing the user's roles
	// (comma-separated); otherwise every user has DefaultRoles.
	RolesHeader  string
	DefaultRoles []string
	// Trusted lists the proxy's addresses (IPs or CIDR networks); a
	// request from anywhere else is refused.
	Trusted []string
}

// Defaults.
const (
	DefaultSessionIdle    = 30 * time.Minute
	DefaultSessionMax     = 12 * time.Hour
	DefaultMaxUploadBytes = 2 << 30
)

// Deps is what the console reads and writes.
type Deps struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Topology pipeline.Topology
	// Aliases is the KV bucket of case aliases (assemble.Buckets.Aliases):
	// a StudyInstanceUID's case id to its study's case.
	Aliases string
	Key     *sitekey.Key
	// Raw is where lab files are written; Deid where de-identified models
	// are read from.
	Raw, Deid objstore.Bucket
	// Checks are the readiness checks shown on the health page.
	Checks  []pipeline.Check
	Metrics *pipeline.Metrics
	Log     zerolog.Logger
}

// Server is a running console.
type Server struct {
	cfg   Config
	deps  Deps
	log   zerolog.Logger
	auth  *authenticator
	audit *auditor
	index *caseIndex
	pages *pages
	srv   *http.Server
	ln    net.Listener
	url   string
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

// Validate checks a configuration without starting anything.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen is empty"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file"))
	}
	if c.Proxy.UserHeader != "" {
		if len(c.Proxy.Trusted) == 0 {
			errs = append(errs, errors.New("proxy.trusted is empty: list the reverse proxy's addresses, or anyone could send the user header"))
		}
		if _, err := parseTrusted(c.Proxy.Trusted); err != nil {
			errs = append(errs, err)
		}
		if c.Proxy.RolesHeader == "" && len(c.Proxy.DefaultRoles) == 0 {
			errs = append(errs, errors.New("proxy: set roles_header or default_roles (lab, coordinator, operator)"))
		}
		for _, r := range c.Proxy.DefaultRoles {
			if !ValidRole(r) {
				errs = append(errs, fmt.Errorf("proxy.default_roles: %q is not a role (lab, coordinator, operator)", r))
			}
		}
		if c.UsersFile != "" || c.OneTimeSignIn {
			errs = append(errs, errors.New("proxy sign-in excludes users_file and one-time sign-in: the proxy is the only door"))
		}
	} else if c.UsersFile == "" && !c.OneTimeSignIn {
		errs = append(errs, errors.New("no way to sign in: set users_file, or proxy.user_header with proxy.trusted"))
	}
	if c.UsersFile != "" {
		if _, err := loadUsers(c.UsersFile); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SessionIdle < 0 || c.SessionMax < 0 || c.MaxUploadBytes < 0 {
		errs = append(errs, errors.New("session_idle, session_max and max_upload_bytes must not be negative"))
	}
	return errors.Join(errs...)
}

// New prepares a console; Start serves it.
func New(cfg Config, deps Deps) (*Server, error) {
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	log := deps.Log.With().Str("component", "console").Logger()
	au, err := newAuditor(log, cfg.AuditFile)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	a, err := newAuthenticator(cfg, log)
	if err != nil {
		au.close()
		return nil, fmt.Errorf("console: %w", err)
	}
	p, err := loadPages()
	if err != nil {
		au.close()
		return nil, fmt.Errorf("console: %w", err)
	}
	s := &Server{cfg: cfg, deps: deps, log: log, auth: a, audit: au, pages: p}
	s.index = newCaseIndex(deps.JS, deps.Topology, log)
	return s, nil
}

// Start listens and serves until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("console listen %s: %w", s.cfg.Listen, err)
	}
	scheme := "http"
	if s.cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("console tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + hostForURL(ln.Addr().String(), s.cfg.Listen)
	s.auth.baseURL = s.url
	if s.cfg.OneTimeSignIn {
		if err := s.auth.newOnce(); err != nil {
			ln.Close()
			return fmt.Errorf("console: %w", err)
		}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.wg.Go(func() { s.index.run(runCtx) })
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
	}
	s.wg.Go(func() { _ = s.srv.Serve(ln) })
	s.log.Info().Str("listen", ln.Addr().String()).Str("url", s.url).Msg("web console")
	return nil
}

// hostForURL is the address a browser uses: the bound address, with a
// wildcard host replaced by localhost.
func hostForURL(bound, configured string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, _, err := net.SplitHostPort(configured); err == nil && h != "" && net.ParseIP(h) == nil {
			host = h
		} else {
			host = "localhost"
		}
	}
	return net.JoinHostPort(host, port)
}

// URL is the console's base URL (after Start).
func (s *Server) URL() string { return s.url }

// SignInURL is the current one-time sign-in URL ("" without one-time
// sign-in). It is a credential: show it only to the person running ingest.
func (s *Server) SignInURL() string { return s.auth.onceURL() }

// Shutdown stops serving; open event streams end.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	s.wg.Wait()
	s.auth.close()
	s.audit.close()
	return err
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signInPost)
	mux.HandleFunc("GET /signin/once", s.signInOnce)
	mux.HandleFunc("POST /signout", s.need("", s.signOut))
	mux.HandleFunc("GET /{$}", s.need("", func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/cases", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /cases", s.need("", s.casesPage))
	mux.HandleFunc("POST /search", s.need("", s.search))
	mux.HandleFunc("GET /cases/{id}", s.need("", s.casePage))
	mux.HandleFunc("GET /cases/{id}/live", s.need("", s.caseLive))
	mux.HandleFunc("GET /cases/{id}/events", s.need("", s.caseEvents))
	mux.HandleFunc("GET /cases/{id}/models/{file}", s.need("", s.caseModel))
	mux.HandleFunc("GET /lab", s.need(RoleLab, s.labNew))
	mux.HandleFunc("GET /cases/{id}/lab", s.need(RoleLab, s.labEdit))
	mux.HandleFunc("POST /lab", s.need(RoleLab, s.labSave))
	mux.HandleFunc("POST /upload", s.need(RoleLab, s.upload))
	mux.HandleFunc("GET /dlq", s.need(RoleOperator, s.dlqPage))
	mux.HandleFunc("POST /dlq/replay", s.need(RoleOperator, s.dlqReplay))
	mux.HandleFunc("GET /health", s.need(RoleOperator, s.healthPage))
	mux.HandleFunc("GET /export", s.need(RoleCoordinator, s.exportPage))
	mux.HandleFunc("GET /export/cases.csv", s.need(RoleCoordinator, s.exportCSV))
	mux.HandleFunc("GET /export/cases.ndjson", s.need(RoleCoordinator, s.exportNDJSON))
	return s.secure(mux)
}

// secure adds the headers every response carries, refuses requests from
// outside the proxy allow-list, and checks the CSRF token of every POST.
func (s *Server) secure(next http.Handler) http.Handler {
	csp := "default-src 'none'; script-src 'self' " + importMapHash + "; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if s.cfg.CertFile != "" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		if !s.auth.fromTrusted(r) {
			s.audit.record(r, "", "request_refused", "untrusted_address", nil)
			http.Error(w, "this console only answers through its reverse proxy", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// staticHandler serves the embedded assets with a long cache (they change
// only with the binary) and the right JavaScript type.
func staticHandler(fsys fs.FS) http.Handler {
	fsrv := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		w.Header().Set("Cache-Control", "private, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

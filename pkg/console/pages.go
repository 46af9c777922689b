package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/registry"
)

// importMap maps the bare module names three.js's example loaders import
// to the vendored files. The case page carries it inline, verbatim; the
// Content-Security-Policy allows exactly this script by its hash.
const importMap = `{"imports":{"three":"/static/vendor/three/build/three.module.min.js","three/addons/":"/static/vendor/three/examples/jsm/"}}`

var importMapHash = func() string {
	h := sha256.Sum256([]byte(importMap))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

// pages holds one template set per page, each with the shared layout.
type pages struct {
	sets map[string]*template.Template
}

var funcs = template.FuncMap{
	"join": func(sep string, s []string) string { return strings.Join(s, sep) },
	"num":  formatNum,
	"mm":   func(f float64) string { return formatNum(f) + " mm" },
	"ago":  ago,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	},
	"yesno": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"add": func(a, b int) int { return a + b },
	"humanize": func(s string) string {
		return strings.ReplaceAll(s, "_", " ")
	},
	"bytes": formatBytes,
	"fid":   fieldID,
	"slug":  func(s string) string { return strings.ReplaceAll(s, " ", "-") },
	"bbox": func(b registry.BBox) string {
		return formatNum(b.Max[0]-b.Min[0]) + " × " + formatNum(b.Max[1]-b.Min[1]) + " × " + formatNum(b.Max[2]-b.Min[2]) + " mm"
	},
	"seq": func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	},
}

func formatNum(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		p.sets[base] = t
	}
	return p, nil
}

// view is what every page gets.
type view struct {
	Title string
	// Nav names the current section for the navigation's aria-current.
	Nav       string
	User      string
	CSRF      string
	Flash     string
	ImportMap template.HTML
	roles     []string
	Data      any
}

// Can reports whether the signed-in user holds role.
func (v view) Can(role string) bool {
	for _, r := range v.roles {
		if r == role {
			return true
		}
	}
	return false
}

// render writes a page; a template error is a 500 without details.
func (s *Server) render(w http.ResponseWriter, status int, page string, sess *session, v view) {
	t := s.pages.sets[page]
	if t == nil {
		http.Error(w, "page not found", http.StatusInternalServerError)
		return
	}
	if sess != nil {
		v.User, v.CSRF, v.roles = sess.user, sess.csrf, sess.roles
		if v.Flash == "" {
			v.Flash, sess.flash = sess.flash, ""
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error().Err(err).Str("page", page).Msg("template failed")
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment writes one named template of a page (the live part of a case).
func (s *Server) fragment(w http.ResponseWriter, page, name string, sess *session, v view) {
	t := s.pages.sets[page]
	if sess != nil {
		v.User, v.CSRF, v.roles = sess.user, sess.csrf, sess.roles
	}
	var buf bytes.Buffer
	if t == nil || t.ExecuteTemplate(&buf, name, v) != nil {
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// handler is a page handler that runs with a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// need wraps h: the request must come from a signed-in user holding role
// ("" for any), and a POST must carry the session's CSRF token.
func (s *Server) need(role string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(w, r)
		if sess == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if !sess.has(role) {
			s.audit.record(r, sess.user, "forbidden", "refused", map[string]string{"needs_role": role})
			s.render(w, http.StatusForbidden, "error", sess, view{Title: "Not allowed",
				Data: "Your account does not hold the " + role + " role this page needs."})
			return
		}
		if r.Method == http.MethodPost && !s.postAllowed(w, r, sess) {
			return
		}
		h(w, r, sess)
	}
}

// postAllowed checks a POST's origin and CSRF token. Multipart bodies (the
// model upload) carry the token as their first part and are checked by
// their handler; for them this checks the origin only.
func (s *Server) postAllowed(w http.ResponseWriter, r *http.Request, sess *session) bool {
	if !sameOrigin(r) {
		s.audit.record(r, sess.user, "csrf", "refused", map[string]string{"check": "origin"})
		http.Error(w, "this form came from another site", http.StatusForbidden)
		return false
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return false
	}
	if !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.audit.record(r, sess.user, "csrf", "refused", map[string]string{"check": "token"})
		http.Error(w, "the form's security token is missing or out of date: reload the page and try again", http.StatusForbidden)
		return false
	}
	return true
}

// session returns the signed-in session of a request, or nil. Behind a
// trusted proxy the proxy's user header signs in (a session is kept for
// the CSRF token, and replaced when the header names someone else).
func (s *Server) session(w http.ResponseWriter, r *http.Request) *session {
	sess := s.auth.lookup(r)
	if s.cfg.Proxy.UserHeader == "" {
		if sess == nil || sess.user == "" {
			return nil
		}
		return sess
	}
	name, roles, ok := s.auth.proxyUser(r)
	if !ok {
		return nil
	}
	if sess != nil && sess.user == name && sess.method == "proxy" {
		sess.roles = roles
		return sess
	}
	if sess != nil {
		s.auth.end(sess)
	}
	sess = s.auth.newSession(w, name, "proxy", roles)
	s.audit.record(r, name, "sign_in", "ok", map[string]string{"method": "proxy"})
	return sess
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Proxy.UserHeader != "" {
		if s.session(w, r) != nil {
			http.Redirect(w, r, "/cases", http.StatusSeeOther)
			return
		}
		http.Error(w, "the reverse proxy did not name a user", http.StatusUnauthorized)
		return
	}
	sess := s.auth.anonymous(w, r)
	if sess.user != "" {
		http.Redirect(w, r, "/cases", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "signin", sess, view{Title: "Sign in", Data: signInData{Passwords: s.auth.users != nil, Once: s.cfg.OneTimeSignIn}})
}

type signInData struct {
	Passwords, Once bool
	Error           string
}

func (s *Server) signInPost(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Proxy.UserHeader != "" || s.auth.users == nil {
		http.Error(w, "password sign-in is not enabled", http.StatusNotFound)
		return
	}
	sess := s.auth.lookup(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || sess == nil || !sameOrigin(r) || !checkCSRF(sess, r.PostForm.Get("csrf")) {
		s.audit.record(r, "", "sign_in", "refused", map[string]string{"check": "csrf"})
		sess = s.auth.anonymous(w, r)
		s.render(w, http.StatusForbidden, "signin", sess, view{Title: "Sign in", Data: signInData{Passwords: true, Once: s.cfg.OneTimeSignIn,
			Error: "The sign-in form was out of date. Please try again."}})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	pw := r.PostForm.Get("password")
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	u, ok, limited := s.auth.password(name, pw, host)
	if !ok {
		who := ""
		if _, known := s.auth.users[name]; known {
			who = name // an unknown name may be a password typed in the wrong box: not logged
		}
		outcome := "bad_credentials"
		msg := "The user name or password is not right."
		if limited {
			outcome = "rate_limited"
			msg = "Too many failed attempts. Wait ten minutes and try again."
		}
		s.audit.record(r, who, "sign_in", outcome, map[string]string{"method": "password"})
		s.render(w, http.StatusUnauthorized, "signin", sess, view{Title: "Sign in", Data: signInData{Passwords: true, Once: s.cfg.OneTimeSignIn, Error: msg}})
		return
	}
	// A new session id on sign-in: a session fixed before cannot be used.
	s.auth.end(sess)
	s.auth.newSession(w, name, "password", u.roles)
	s.audit.record(r, name, "sign_in", "ok", map[string]string{"method": "password"})
	http.Redirect(w, r, "/cases", http.StatusSeeOther)
}

func (s *Server) signInOnce(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if !s.auth.useOnce(tok) {
		s.audit.record(r, "", "sign_in", "bad_token", map[string]string{"method": "one_time_url"})
		sess := s.auth.anonymous(w, r)
		s.render(w, http.StatusUnauthorized, "signin", sess, view{Title: "Sign in", Data: signInData{Passwords: s.auth.users != nil, Once: s.cfg.OneTimeSignIn,
			Error: "This sign-in link was already used or is not valid. A new one is printed where ingest runs."}})
		return
	}
	if old := s.auth.lookup(r); old != nil {
		s.auth.end(old)
	}
	s.auth.newSession(w, "local", "one_time_url", AllRoles)
	s.audit.record(r, "local", "sign_in", "ok", map[string]string{"method": "one_time_url"})
	if s.cfg.SignInURLFile != "" {
		s.log.Info().Str("file", s.cfg.SignInURLFile).Msg("one-time sign-in URL used; the next one is in this file")
	}
	http.Redirect(w, r, "/cases", http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, sess *session) {
	s.auth.end(sess)
	s.auth.clearCookie(w)
	s.audit.record(r, sess.user, "sign_out", "ok", nil)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// notFound answers an unknown case or entry without repeating what was
// asked for.
func (s *Server) notFound(w http.ResponseWriter, sess *session, msg string) {
	s.render(w, http.StatusNotFound, "error", sess, view{Title: "Not found", Data: msg})
}

// importMapHTML is the import map element the case page carries.
var importMapHTML = template.HTML(`<script type="importmap">` + importMap + `</script>`)

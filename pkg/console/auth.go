package console

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// user is one entry of the users file.
type user struct {
	hash  []byte
	roles []string
}

// loadUsers reads a users file: one "name:bcrypt-hash:roles" per line
// (roles comma-separated, from lab, coordinator, operator); blank lines and
// lines starting with # are skipped. Errors name the line, never a hash.
func loadUsers(path string) (map[string]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users_file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("users_file %s is readable by every user of this machine: chmod o-rwx it", path)
	}
	users := map[string]user{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("users_file %s line %d: want name:bcrypt-hash:roles (e.g. the output of htpasswd -nbB, then :lab,coordinator)", path, n)
		}
		name, hash, roleList := parts[0], parts[1], parts[2]
		if !validUserName(name) {
			return nil, fmt.Errorf("users_file %s line %d: a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'", path, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("users_file %s line %d: the password hash is not a bcrypt hash", path, n)
		}
		var roles []string
		for r := range strings.SplitSeq(roleList, ",") {
			r = strings.TrimSpace(r)
			if !ValidRole(r) {
				return nil, fmt.Errorf("users_file %s line %d: roles are lab, coordinator and operator, comma-separated", path, n)
			}
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("users_file %s line %d: the user is listed twice", path, n)
		}
		users[name] = user{hash: []byte(hash), roles: roles}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users_file: %w", err)
	}
	return users, nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return false
		}
	}
	return true
}

// session is one browser's sign-in. An anonymous session (user "") only
// carries the CSRF token of the sign-in form.
type session struct {
	id       string
	user     string
	method   string
	roles    []string
	csrf     string
	created  time.Time
	lastSeen time.Time
	flash    string
}

func (s *session) has(role string) bool { return role == "" || slices.Contains(s.roles, role) }

// Limits of the session table and of failed sign-ins.
const (
	maxSessions      = 10000
	anonymousTTL     = 15 * time.Minute
	failureWindow    = 10 * time.Minute
	maxFailures      = 5
	maxFailureTrack  = 10000
	cookieName       = "printreg_console"
	secureCookieName = "__Host-printreg_console"
)

// dummyHash is compared against when a user name is unknown, so that an
// unknown name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("printreg console timing guard"), bcrypt.DefaultCost)

type authenticator struct {
	cfg     Config
	log     zerolog.Logger
	users   map[string]user
	trusted []netip.Prefix
	secure  bool
	baseURL string

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string][]time.Time
	onceHash [32]byte
	onceTok  string
	now      func() time.Time
}

func newAuthenticator(cfg Config, log zerolog.Logger) (*authenticator, error) {
	a := &authenticator{cfg: cfg, log: log, sessions: map[string]*session{}, failures: map[string][]time.Time{},
		secure: cfg.CertFile != "" || cfg.SecureCookies, now: time.Now}
	if cfg.UsersFile != "" {
		u, err := loadUsers(cfg.UsersFile)
		if err != nil {
			return nil, err
		}
		a.users = u
	}
	if cfg.Proxy.UserHeader != "" {
		t, err := parseTrusted(cfg.Proxy.Trusted)
		if err != nil {
			return nil, err
		}
		a.trusted = t
	}
	return a, nil
}

func (a *authenticator) close() {
	if a.cfg.SignInURLFile != "" {
		_ = os.Remove(a.cfg.SignInURLFile)
	}
}

// parseTrusted reads the proxy allow-list: IP addresses or CIDR networks.
func parseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("proxy.trusted: %q is neither an IP address nor a CIDR network", s)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// fromTrusted reports whether a request may be served: always without
// proxy sign-in, else only from a trusted proxy address.
func (a *authenticator) fromTrusted(r *http.Request) bool {
	if a.cfg.Proxy.UserHeader == "" {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *authenticator) cookieName() string {
	if a.secure {
		return secureCookieName
	}
	return cookieName
}

func (a *authenticator) setCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(), Value: s.id, Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteStrictMode,
	})
}

func (a *authenticator) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1,
	})
}

// lookup returns the request's live session (nil when there is none).
func (a *authenticator) lookup(r *http.Request) *session {
	c, err := r.Cookie(a.cookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil {
		return nil
	}
	now := a.now()
	ttl := a.cfg.SessionIdle
	if s.user == "" {
		ttl = anonymousTTL
	}
	if now.Sub(s.lastSeen) > ttl || (s.user != "" && now.Sub(s.created) > a.cfg.SessionMax) {
		delete(a.sessions, s.id)
		return nil
	}
	s.lastSeen = now
	return s
}

// newSession stores a new session (signed in when user is set) and sets
// its cookie. The table is bounded: the least recently used session goes.
func (a *authenticator) newSession(w http.ResponseWriter, user, method string, roles []string) *session {
	now := a.now()
	s := &session{id: randomToken(), user: user, method: method, roles: roles, csrf: randomToken(), created: now, lastSeen: now}
	a.mu.Lock()
	if len(a.sessions) >= maxSessions {
		a.evictLocked(now)
	}
	a.sessions[s.id] = s
	a.mu.Unlock()
	a.setCookie(w, s)
	return s
}

// evictLocked drops expired sessions, then the least recently used one.
func (a *authenticator) evictLocked(now time.Time) {
	var oldest *session
	for id, s := range a.sessions {
		ttl := a.cfg.SessionIdle
		if s.user == "" {
			ttl = anonymousTTL
		}
		if now.Sub(s.lastSeen) > ttl {
			delete(a.sessions, id)
			continue
		}
		if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
			oldest = s
		}
	}
	if len(a.sessions) >= maxSessions && oldest != nil {
		delete(a.sessions, oldest.id)
	}
}

func (a *authenticator) end(s *session) {
	a.mu.Lock()
	delete(a.sessions, s.id)
	a.mu.Unlock()
}

// anonymous returns the request's session, making an anonymous one for
// the sign-in form when there is none.
func (a *authenticator) anonymous(w http.ResponseWriter, r *http.Request) *session {
	if s := a.lookup(r); s != nil {
		return s
	}
	return a.newSession(w, "", "", nil)
}

// checkCSRF compares the form's token with the session's.
func checkCSRF(s *session, token string) bool {
	return s != nil && token != "" && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(token)) == 1
}

// sameOrigin refuses a POST whose Origin header names another site (the
// CSRF token is the real check; this is a second one). An absent or
// "null" origin (sent under some privacy settings) is left to the token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	i := strings.Index(o, "://")
	return i >= 0 && o[i+3:] == r.Host
}

// password checks a user name and password. It takes the same time for
// an unknown user, and refuses (ok false, limited true) a name or an
// address with too many recent failures.
func (a *authenticator) password(name, pw, addr string) (u user, ok, limited bool) {
	if a.limited("u:"+name) || a.limited("a:"+addr) {
		return user{}, false, true
	}
	known, exists := a.users[name]
	hash := known.hash
	if !exists {
		hash = dummyHash
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pw))
	if err != nil || !exists {
		a.fail("u:" + name)
		a.fail("a:" + addr)
		return user{}, false, false
	}
	return known, true, false
}

func (a *authenticator) limited(k string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	ts := a.failures[k]
	kept := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < failureWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(a.failures, k)
		return false
	}
	a.failures[k] = kept
	return len(kept) >= maxFailures
}

func (a *authenticator) fail(k string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) >= maxFailureTrack {
		clear(a.failures)
	}
	a.failures[k] = append(a.failures[k], a.now())
}

// proxyUser returns the user a trusted proxy names, with its roles.
func (a *authenticator) proxyUser(r *http.Request) (string, []string, bool) {
	name := strings.TrimSpace(r.Header.Get(a.cfg.Proxy.UserHeader))
	if name == "" || len(name) > 256 {
		return "", nil, false
	}
	roles := a.cfg.Proxy.DefaultRoles
	if h := a.cfg.Proxy.RolesHeader; h != "" {
		roles = nil
		for _, v := range r.Header.Values(h) {
			for r := range strings.SplitSeq(v, ",") {
				if r = strings.TrimSpace(r); ValidRole(r) && !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
		}
	}
	return name, roles, true
}

// newOnce makes a new one-time sign-in token and writes its URL to the
// sign-in URL file.
func (a *authenticator) newOnce() error {
	tok := randomToken()
	a.mu.Lock()
	a.onceTok = tok
	a.onceHash = sha256.Sum256([]byte(tok))
	a.mu.Unlock()
	if f := a.cfg.SignInURLFile; f != "" {
		if err := os.MkdirAll(filepath.Dir(f), 0o750); err != nil {
			return err
		}
		tmp := f + ".tmp"
		if err := os.WriteFile(tmp, []byte(a.onceURL()+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, f); err != nil {
			return err
		}
	}
	return nil
}

func (a *authenticator) onceURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.onceTok == "" {
		return ""
	}
	return a.baseURL + "/signin/once?token=" + a.onceTok
}

// useOnce consumes the one-time token: true once for the right token.
func (a *authenticator) useOnce(tok string) bool {
	if !a.cfg.OneTimeSignIn || tok == "" {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	ok := a.onceTok != "" && subtle.ConstantTimeCompare(h[:], a.onceHash[:]) == 1
	if ok {
		a.onceTok = ""
		a.onceHash = [32]byte{}
	}
	a.mu.Unlock()
	if ok {
		if err := a.newOnce(); err != nil {
			a.log.Error().Err(err).Msg("could not write the next one-time sign-in URL")
		}
	}
	return ok
}

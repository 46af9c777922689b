// Package embednats runs a NATS server with JetStream inside the ingest
// process: the embedded default, where a newcomer runs one command and
// needs no separate NATS installation. It listens on loopback so that
// `ingest tail` in another terminal can follow the events.
package embednats

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// URLFile is the file, in the state directory, that records the client URL
// of the running embedded server, so other commands find it.
const URLFile = "nats.url"

// TokenFile is the file, in the state directory, holding the token clients
// must present (mode 0600, made on first start): without it any local user
// could read the dead-letter bodies (raw object keys, which may hold
// accession numbers) and publish forged work items.
const TokenFile = "auth.token"

// Server is a running embedded server.
type Server struct {
	ns  *server.Server
	url string
	dir string
}

// Start starts a server with JetStream state under dir, listening on listen
// (host:port; when that port is taken, a free port on the same host is used
// and logged). The URL is written to dir/nats.url.
func Start(dir, listen string, log zerolog.Logger) (*Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: listen port %q is not a number", portStr)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if port != 0 && !free(host, port) {
		log.Warn().Int("port", port).Msg("embedded NATS: port in use, choosing a free one")
		port = -1
	}
	if port == 0 {
		port = -1
	}
	token, err := ensureToken(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	opts := &server.Options{
		Authorization: token,
		ServerName:    "printreg-embedded",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      filepath.Join(dir, "jetstream"),
		NoSigs:        true,
		MaxPayload:    8 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLoggerV2(&logAdapter{log: log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS: not ready after 30s")
	}
	s := &Server{ns: ns, url: ns.ClientURL(), dir: dir}
	if err := os.WriteFile(filepath.Join(dir, URLFile), []byte(s.url+"\n"), 0o600); err != nil {
		log.Warn().Err(err).Msg("embedded NATS: cannot record the URL for other commands")
	}
	return s, nil
}

func free(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// URL is the client URL.
func (s *Server) URL() string { return s.url }

// Shutdown stops the server and removes the URL file.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	_ = os.Remove(filepath.Join(s.dir, URLFile))
}

// ensureToken returns the client token in dir, making a random one (mode
// 0600) the first time. A token file others can read is refused.
func ensureToken(dir string) (string, error) {
	p := filepath.Join(dir, TokenFile)
	if t, err := ReadToken(dir); err == nil {
		return t, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b[:])
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return t, f.Close()
}

// ReadToken returns the client token of the embedded server whose state is
// in dir.
func ReadToken(dir string) (string, error) {
	p := filepath.Join(dir, TokenFile)
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by other users (mode %v); chmod 600 it", p, st.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s is empty", p)
	}
	return t, nil
}

// ReadURL returns the URL recorded by a running embedded server in dir.
func ReadURL(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, URLFile))
	if err != nil {
		return "", err
	}
	u := string(b)
	for len(u) > 0 && (u[len(u)-1] == '\n' || u[len(u)-1] == '\r') {
		u = u[:len(u)-1]
	}
	return u, nil
}

// logAdapter sends server logs to zerolog: notices at debug, warnings and
// errors as such.
type logAdapter struct{ log zerolog.Logger }

func (l *logAdapter) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l *logAdapter) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l *logAdapter) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l *logAdapter) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l *logAdapter) Debugf(format string, v ...any)  {}
func (l *logAdapter) Tracef(format string, v ...any)  {}

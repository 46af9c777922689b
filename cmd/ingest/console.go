package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/console"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
)

// ConsoleConfig is the web console `ingest run` serves (pkg/console): off
// unless listen is set, except in the embedded default, where it listens
// on 127.0.0.1:9465 and signs in with a one-time URL.
type ConsoleConfig struct {
	// Listen is host:port; "off" turns the embedded default's console off.
	Listen         string             `yaml:"listen"`
	UsersFile      string             `yaml:"users_file"`
	OneTimeSignIn  bool               `yaml:"one_time_sign_in"`
	Proxy          ConsoleProxyConfig `yaml:"proxy"`
	TLS            ConsoleTLSConfig   `yaml:"tls"`
	SecureCookies  bool               `yaml:"secure_cookies"`
	AuditFile      string             `yaml:"audit_file"`
	SessionIdle    time.Duration      `yaml:"session_idle"`
	SessionMax     time.Duration      `yaml:"session_max"`
	MaxUploadBytes confval.ByteSize   `yaml:"max_upload_bytes"`
}

// ConsoleProxyConfig is sign-in by a trusted reverse proxy's header.
type ConsoleProxyConfig struct {
	UserHeader   string   `yaml:"user_header"`
	RolesHeader  string   `yaml:"roles_header"`
	DefaultRoles []string `yaml:"default_roles"`
	Trusted      []string `yaml:"trusted"`
}

// ConsoleTLSConfig serves the console over HTTPS.
type ConsoleTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// embeddedConsoleListen is where the embedded default's console listens.
const embeddedConsoleListen = "127.0.0.1:9465"

func defaultConsoleConfig() ConsoleConfig {
	return ConsoleConfig{SessionIdle: console.DefaultSessionIdle, SessionMax: console.DefaultSessionMax, MaxUploadBytes: console.DefaultMaxUploadBytes}
}

// consoleListen is where the console listens ("" for nowhere).
func (l *loaded) consoleListen() string {
	switch c := l.Console.Listen; {
	case strings.EqualFold(c, "off"):
		return ""
	case c != "":
		return c
	case l.file == "":
		return embeddedConsoleListen
	}
	return ""
}

// consoleConfig is the console's configuration. The embedded default signs
// in with a one-time URL and keeps its audit file in the data folder.
func (l *loaded) consoleConfig() console.Config {
	c := l.Console
	embedded := l.file == ""
	cfg := console.Config{
		Listen: l.consoleListen(), UsersFile: c.UsersFile,
		Proxy: console.ProxyConfig{UserHeader: c.Proxy.UserHeader, RolesHeader: c.Proxy.RolesHeader,
			DefaultRoles: c.Proxy.DefaultRoles, Trusted: c.Proxy.Trusted},
		OneTimeSignIn: c.OneTimeSignIn || (embedded && c.Proxy.UserHeader == ""),
		SignInURLFile: filepath.Join(l.DataDir, "console", "signin.url"),
		CertFile:      c.TLS.CertFile, KeyFile: c.TLS.KeyFile, SecureCookies: c.SecureCookies,
		AuditFile:   c.AuditFile,
		SessionIdle: c.SessionIdle, SessionMax: c.SessionMax, MaxUploadBytes: int64(c.MaxUploadBytes),
		ModelsPrefix: l.Processing.ModelsPrefix,
	}
	if cfg.AuditFile == "" && embedded {
		cfg.AuditFile = filepath.Join(l.DataDir, "console", "audit.log")
	}
	return cfg
}

// validateConsole checks the console section when the console is on.
func (l *loaded) validateConsole() []error {
	listen := l.consoleListen()
	if listen == "" {
		return nil
	}
	var errs []error
	if _, port, err := net.SplitHostPort(listen); err != nil {
		errs = append(errs, fmt.Errorf("console.listen %q: use host:port, e.g. 127.0.0.1:9465", listen))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("console.listen %q: the port must be a number from 0 to 65535", listen))
	}
	if err := l.consoleConfig().Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs = append(errs, fmt.Errorf("console: %s", e))
		}
	}
	return errs
}

// consoleRun is the console of one `ingest run` (nothing when it is off).
type consoleRun struct {
	srv *console.Server
}

// startConsole serves the console when it is configured (always in the
// embedded default). A port that cannot be bound is an error with a
// configuration file and a warning for the embedded default, as for the
// admin endpoint.
func (a *app) startConsole(ctx context.Context, raw, deid objstore.Bucket, m *pipeline.Metrics, checks []pipeline.Check) (*consoleRun, error) {
	cfg := a.cfg.consoleConfig()
	if cfg.Listen == "" {
		return &consoleRun{}, nil
	}
	all := append(append([]pipeline.Check(nil), checks...), pipeline.Check{Name: "deid_bucket", Fn: func(ctx context.Context) error { return ping(ctx, deid) }})
	srv, err := console.New(cfg, console.Deps{
		Conn: a.nc, JS: a.js, Topology: a.topo, Aliases: a.buckets.Aliases, Key: a.key, Raw: raw, Deid: deid, Checks: all, Metrics: m, Log: a.log,
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		if a.cfg.file != "" {
			return nil, err
		}
		a.log.Warn().Err(err).Msg("web console not started")
		return &consoleRun{}, nil
	}
	if !loopbackOnly(cfg.Listen) && cfg.CertFile == "" {
		a.log.Warn().Str("exposure", "network").Msgf("console.listen %s is reachable beyond this machine without TLS: passwords and session cookies cross the network in clear; set console.tls or put it behind a TLS proxy", cfg.Listen)
	}
	return &consoleRun{srv: srv}, nil
}

func (c *consoleRun) stop() {
	if c.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

// banner adds the console's lines to the startup banner: its address and,
// in the embedded default, the one-time sign-in URL.
func (c *consoleRun) banner(w io.Writer) {
	if c.srv == nil {
		return
	}
	if u := c.srv.SignInURL(); u != "" {
		fmt.Fprintf(w, "  Web console: %s   sign in once with: %s\n", c.srv.URL(), u)
		return
	}
	fmt.Fprintf(w, "  Web console: %s\n", c.srv.URL())
}

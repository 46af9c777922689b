package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleConfig: the embedded default serves the console on loopback
// with a one-time sign-in and an audit file in its data folder; with a
// configuration file it is off until console.listen is set, and a console
// nobody can sign in to is refused.
func TestConsoleConfig(t *testing.T) {
	l, err := loadConfig("", []string{"PRINTREG_DATA_DIR=/srv/pr"})
	if err != nil {
		t.Fatal(err)
	}
	c := l.consoleConfig()
	if c.Listen != embeddedConsoleListen || !c.OneTimeSignIn || c.AuditFile != filepath.Join("/srv/pr", "console", "audit.log") ||
		c.SignInURLFile != filepath.Join("/srv/pr", "console", "signin.url") {
		t.Errorf("embedded default console %+v", c)
	}
	if l, err := loadConfig("", []string{"PRINTREG_CONSOLE_LISTEN=off"}); err != nil || l.consoleListen() != "" {
		t.Errorf("console.listen off: %v", err)
	}
	file := writeConfig(t, "nats:\n  url: nats://127.0.0.1:4222\n")
	if l, err := loadConfig(file, nil); err != nil || l.consoleListen() != "" {
		t.Errorf("a configuration file turned the console on: %v", err)
	}
	file = writeConfig(t, "nats:\n  url: nats://127.0.0.1:4222\nconsole:\n  listen: 0.0.0.0:9465\n")
	if _, err := loadConfig(file, nil); err == nil || !strings.Contains(err.Error(), "console: no way to sign in") {
		t.Errorf("a console without sign-in: %v", err)
	}
	file = writeConfig(t, "nats:\n  url: nats://127.0.0.1:4222\nconsole:\n  listen: 9465\n  one_time_sign_in: true\n")
	if _, err := loadConfig(file, nil); err == nil || !strings.Contains(err.Error(), "console.listen") {
		t.Errorf("a listen address without a port: %v", err)
	}
}

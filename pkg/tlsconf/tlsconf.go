// Package tlsconf names the certificate files of a TLS listener and loads
// them into a crypto/tls configuration. The DICOM C-STORE receiver (package
// dimse) and the STOW-RS endpoint (package stow) share it.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config names the certificate files of a TLS listener; the zero value
// means no TLS.
type Config struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires and verifies client certificates
	// against these CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the listener is to speak TLS: any file is named.
// Load then refuses a configuration without both the certificate and the
// key.
func (c Config) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != ""
}

// Check reports, without reading the files, a configuration Load refuses
// whatever the files hold.
func (c Config) Check() error {
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("set both cert_file and key_file (client_ca_file needs them too)")
	}
	return nil
}

// Load builds a tls.Config from the files: TLS 1.2 minimum (BCP 195),
// Go's default cipher suites, client certificates required when a client
// CA is configured.
func (c *Config) Load() (*tls.Config, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: loading the server certificate and key: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: reading the client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls: the client CA file holds no PEM certificate")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

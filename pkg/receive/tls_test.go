package receive

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/tlsconf"
)

// rsaPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all RSA: dcmtk's default BCP 195 profile offers ECDHE-RSA
// cipher suites.
func rsaPKI(t testing.TB) (dir string) {
	t.Helper()
	dir = t.TempDir()
	newKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "printreg test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	for i, name := range []string{"server", "client"} {
		k := newKey()
		usage := x509.ExtKeyUsageServerAuth
		if name == "client" {
			usage = x509.ExtKeyUsageClientAuth
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".crt", "CERTIFICATE", der)
		write(name+".key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	}
	return dir
}

// TestDcmtkTLS checks DICOM TLS with mutual authentication against dcmtk:
// echoscu and storescu with a client certificate from the configured CA
// get through; without one the handshake fails.
func TestDcmtkTLS(t *testing.T) {
	echoscu := testenv.Binary(t, "echoscu")
	storescu := testenv.Binary(t, "storescu")
	pki := rsaPKI(t)
	f := func(name string) string { return filepath.Join(pki, name) }
	cfg := dcmtkConfig(t)
	cfg.DIMSE.TLS = tlsconf.Config{CertFile: f("server.crt"), KeyFile: f("server.key"), ClientCAFile: f("ca.pem")}
	b := newDirBucket(t)
	e := startEnv(t, cfg, b)
	host, port := hostPort(t, e.dimse)

	if out, err := run(t, echoscu, "+tls", f("client.key"), f("client.crt"), "+cf", f("ca.pem"),
		"-aet", "DCMTK", "-aec", "PRINTREG", host, port); err != nil {
		t.Fatalf("echoscu over TLS: %v\n%s", err, out)
	}
	if out, err := run(t, echoscu, "+tla", "+cf", f("ca.pem"), "-aet", "DCMTK", "-aec", "PRINTREG", host, port); err == nil {
		t.Fatalf("echoscu without a client certificate got through:\n%s", out)
	}
	if out, err := run(t, echoscu, "-aet", "DCMTK", "-aec", "PRINTREG", host, port); err == nil {
		t.Fatalf("plain echoscu got through a TLS port:\n%s", out)
	}
	paths := seriesFiles(t, "series_pydicom_CT5N_5slices")
	args := append([]string{"+tls", f("client.key"), f("client.crt"), "+cf", f("ca.pem"),
		"-R", "-aet", "DCMTK", "-aec", "PRINTREG", host, port}, paths...)
	if out, err := run(t, storescu, args...); err != nil {
		t.Fatalf("storescu over TLS: %v\n%s", err, out)
	}
	var files []instanceFile
	for _, p := range paths {
		files = append(files, loadInstance(t, p))
	}
	checkStoredAs(t, b, files, "DCMTK", false)
}

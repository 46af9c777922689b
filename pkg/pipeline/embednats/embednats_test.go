package embednats

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func TestStartRecordsURLAndFallsBackFromBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	s, err := Start(dir, busy.Addr().String(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() == "nats://"+busy.Addr().String() {
		t.Error("started on a busy port")
	}
	got, err := ReadURL(dir)
	if err != nil || got != s.URL() {
		t.Errorf("ReadURL = %q, %v; want %q", got, err, s.URL())
	}
	// Only a client holding the token gets in.
	if nc, err := nats.Connect(got); err == nil {
		nc.Close()
		t.Fatal("a client without the token was let in")
	}
	if nc, err := nats.Connect(got, nats.Token("not-the-token")); err == nil {
		nc.Close()
		t.Fatal("a client with a wrong token was let in")
	}
	token, err := ReadToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, TokenFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", st.Mode().Perm(), err)
	}
	nc, err := nats.Connect(got, nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := nc.JetStream()
	if _, err := js.AccountInfo(); err != nil {
		t.Errorf("JetStream not enabled: %v", err)
	}
	nc.Close()
	s.Shutdown()
	if _, err := os.Stat(filepath.Join(dir, URLFile)); !os.IsNotExist(err) {
		t.Error("URL file left after shutdown")
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("no JetStream state directory: %v", err)
	}
}

func TestStartRejectsBadListen(t *testing.T) {
	for _, l := range []string{"nohostport", "127.0.0.1:notaport"} {
		if _, err := Start(t.TempDir(), l, zerolog.Nop()); err == nil {
			t.Errorf("Start(%q) succeeded", l)
		}
	}
}

// TestTokenKeptAcrossRestarts: the token is made once; a restarted server
// takes the same one, and a token file others can read is refused.
func TestTokenKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(dir, "127.0.0.1:0", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ReadToken(dir)
	s.Shutdown()
	s, err = Start(dir, "127.0.0.1:0", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ReadToken(dir); again != first || first == "" {
		t.Errorf("token changed across restarts")
	}
	s.Shutdown()
	os.Chmod(filepath.Join(dir, TokenFile), 0o644)
	if _, err := Start(dir, "127.0.0.1:0", zerolog.Nop()); err == nil {
		t.Error("a world-readable token file was accepted")
	}
}

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
	nc, err := nats.Connect(got)
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

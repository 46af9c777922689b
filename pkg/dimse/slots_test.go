package dimse

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomstatus"
)

// These tests connect from several loopback addresses (127.0.0.0/8 is all
// loopback on Linux) to show that one address, or many unknown ones, cannot
// keep another peer out.

// logBuffer collects a server's log lines; the server writes from many
// goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// connectionsFrom returns the connections the server counts from addr.
func (s *Server) connectionsFrom(addr netip.Addr) int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.connPerAddr[addr]
}

// connections returns the server's open connections in all and from
// addresses outside the sources' networks.
func (s *Server) connections() (total, other int) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.connTotal, s.connOther
}

// from is a local address to connect from.
func from(ip string) *net.TCPAddr { return &net.TCPAddr{IP: net.ParseIP(ip)} }

// dialFrom opens a TCP connection from the loopback address ip and sends
// nothing. A server that refuses at once may reset the connection before
// the dial returns: dialFrom then returns nil, a connection already closed
// by the server. It skips the test where the address cannot be bound.
func dialFrom(t testing.TB, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: from(ip), Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err != nil {
		if strings.Contains(err.Error(), "assign requested address") {
			t.Skipf("cannot connect from %s here: %v", ip, err)
		}
		t.Fatalf("connecting from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor is testenv.WaitFor.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, cond)
}

// expectClosedByServer reads from a connection that sent nothing: the
// server must close it (EOF or reset) within bound, sending nothing. A nil
// c was reset while connecting.
func expectClosedByServer(t testing.TB, c net.Conn, bound time.Duration) {
	t.Helper()
	if c == nil {
		return // reset while connecting
	}
	_ = c.SetReadDeadline(time.Now().Add(bound))
	var b [64]byte
	n, err := c.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		t.Fatalf("%s: the server sent %d bytes to a peer that sent nothing", c.LocalAddr(), n)
	case err == nil:
		t.Fatalf("%s: empty read without an error", c.LocalAddr())
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: still open after %v", c.LocalAddr(), bound)
	}
}

// echoAndStore runs one whole association from ip: C-ECHO, a C-STORE,
// release.
func echoAndStore(t testing.TB, addr, ip, callingAE, uid string) {
	t.Helper()
	c := dial(t, addr, ClientConfig{CallingAE: callingAE, LocalAddr: from(ip)})
	if st, err := c.Echo(context.Background()); err != nil || st != dicomstatus.Success {
		t.Fatalf("C-ECHO from %s: %v, %v", ip, st, err)
	}
	res, err := c.Store(context.Background(), ctImage, uid, explicitL, bytes.NewReader(payload(5000)))
	if err != nil || res.Status != dicomstatus.Success {
		t.Fatalf("C-STORE from %s: %+v, %v", ip, res, err)
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatalf("release from %s: %v", ip, err)
	}
}

// TestIdleConnectionsDoNotLockOutOthers: 60 connections that never send a
// byte, from one address, plus that address reconnecting in a loop, while
// another address associates, echoes and stores: every association of the
// other address succeeds, and every idle socket is closed by the server
// (at once beyond the per-address limit, after the pre-association
// deadline otherwise).
func TestIdleConnectionsDoNotLockOutOthers(t *testing.T) {
	const preAssoc = 2 * time.Second
	h := newMemHandler()
	logs := &logBuffer{}
	srv := startServerLog(t, Config{AETitles: []string{"PRINTREG"}, AssociationRequestTimeout: preAssoc}, h, zerolog.New(logs))
	idleAddr := netip.MustParseAddr("127.0.0.2")

	var idle []net.Conn
	for i := 0; i < 60; i++ {
		idle = append(idle, dialFrom(t, "127.0.0.2", srv.addr))
	}
	waitFor(t, "the server to take or refuse the 60 connections", func() bool {
		return srv.connectionsFrom(idleAddr)+int(srv.Stats().Refused) >= 60
	})
	if n := srv.connectionsFrom(idleAddr); n != DefaultMaxConnectionsPerAddress {
		t.Errorf("%d connections from one address held, want %d", n, DefaultMaxConnectionsPerAddress)
	}

	// The same address reconnects in a loop and keeps what it gets.
	stop := make(chan struct{})
	looped := make(chan []net.Conn)
	go func() {
		var held []net.Conn
		d := net.Dialer{LocalAddr: from("127.0.0.2"), Timeout: 10 * time.Second}
		for len(held) < 200 {
			select {
			case <-stop:
				looped <- held
				return
			default:
			}
			if c, err := d.Dial("tcp", srv.addr); err == nil {
				// Kept open, as a hostile host would.
				held = append(held, c)
			}
		}
		<-stop
		looped <- held
	}()

	for i := 0; i < 5; i++ {
		echoAndStore(t, srv.addr, "127.0.0.3", "OTHER", "1.2.3."+strconv.Itoa(i))
	}
	if path, err := exec.LookPath("echoscu"); err == nil {
		// A real peer too (from 127.0.0.1, which echoscu cannot change).
		host, port, _ := net.SplitHostPort(srv.addr)
		cmd := exec.Command(path, "-aet", "DCMTK", "-aec", "PRINTREG", "-to", "20", "-ta", "20", host, port)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("echoscu: %v\n%s", err, out)
		}
	}
	close(stop)
	for _, c := range <-looped {
		c.Close()
	}
	if h.count() != 5 {
		t.Errorf("%d instances stored, want 5", h.count())
	}

	// Every idle socket is closed by the server; the held ones after the
	// pre-association deadline (the bound is generous, not a speed claim).
	for _, c := range idle {
		expectClosedByServer(t, c, preAssoc+30*time.Second)
	}
	waitFor(t, "the idle address's connections to be forgotten", func() bool { return srv.connectionsFrom(idleAddr) == 0 })

	refusals := logs.lines(`"reason":"address_connection_limit"`, `"peer":"127.0.0.2:`)
	if len(refusals) == 0 {
		t.Errorf("no refusal logged for the idle address:\n%s", logs)
	}
	if r := srv.Stats().Refused; uint64(len(refusals)) >= r {
		t.Errorf("%d refusal lines for %d refusals: not rate limited", len(refusals), r)
	}
	if len(logs.lines(`"reason":"association_request_timeout"`, `"peer":"127.0.0.2:`)) == 0 {
		t.Errorf("no line for the connections that sent no association request:\n%s", logs)
	}
	if bad := logs.lines(`"peer":"127.0.0.3:`, `"level":"warn"`); len(bad) > 0 {
		t.Errorf("the other address was warned about: %v", bad)
	}
}

// TestPerAddressConnectionCap: the connection past the per-address limit is
// closed at once, before anything is read, while other addresses still
// associate and the address gets a place again when one closes.
func TestPerAddressConnectionCap(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		cap  int
	}{
		{name: "default", cap: DefaultMaxConnectionsPerAddress},
		{name: "set", cfg: Config{MaxConnectionsPerAddress: 3}, cap: 3},
		{name: "follows a larger per-source association limit", cfg: Config{MaxAssociationsPerSource: 11}, cap: 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.AETitles = []string{"PRINTREG"}
			// Long enough that only a refusal closes a socket within the
			// bounds below.
			cfg.AssociationRequestTimeout, cfg.ARTIMTimeout = 5*time.Minute, 5*time.Minute
			logs := &logBuffer{}
			srv := startServerLog(t, cfg, newMemHandler(), zerolog.New(logs))
			addr := netip.MustParseAddr("127.0.0.2")
			var held []net.Conn
			for i := 0; i < c.cap; i++ {
				held = append(held, dialFrom(t, "127.0.0.2", srv.addr))
			}
			waitFor(t, "the connections to be counted", func() bool { return srv.connectionsFrom(addr) == c.cap })
			over := dialFrom(t, "127.0.0.2", srv.addr)
			expectClosedByServer(t, over, 30*time.Second)
			if s := srv.Stats(); s.Refused != 1 || s.Rejected != 0 {
				t.Errorf("refused %d, rejected %d; want 1, 0", s.Refused, s.Rejected)
			}
			if got := logs.lines(`"reason":"address_connection_limit"`, `"peer":"127.0.0.2:`, `"level":"warn"`); len(got) != 1 {
				t.Errorf("refusal lines %q", got)
			}
			echoAndStore(t, srv.addr, "127.0.0.4", "OTHER", "1.2.3.4")
			// One closes: the address may connect again.
			held[0].Close()
			waitFor(t, "the closed connection to be forgotten", func() bool { return srv.connectionsFrom(addr) == c.cap-1 })
			dialFrom(t, "127.0.0.2", srv.addr)
			waitFor(t, "the new connection to be counted", func() bool { return srv.connectionsFrom(addr) == c.cap })
			if s := srv.Stats(); s.Refused != 1 {
				t.Errorf("refused %d after a place was freed", s.Refused)
			}
		})
	}
}

// TestAllowListAtAccept: when every source lists networks, a connection
// from elsewhere is closed before anything is read or sent; when one source
// may connect from anywhere, the address is only judged with the request.
func TestAllowListAtAccept(t *testing.T) {
	listed := []Source{{AETitle: "PACS", Networks: []string{"127.0.0.3/32"}}}
	open := []Source{{AETitle: "PACS", Networks: []string{"127.0.0.3/32"}}, {AETitle: "ANYWHERE"}}
	cases := []struct {
		name     string
		sources  []Source
		ip, ae   string
		refused  bool // closed when accepted
		accepted bool // association accepted
	}{
		{name: "listed network", sources: listed, ip: "127.0.0.3", ae: "PACS", accepted: true},
		{name: "outside the networks", sources: listed, ip: "127.0.0.2", ae: "PACS", refused: true},
		{name: "outside, though one source may come from anywhere", sources: open, ip: "127.0.0.2", ae: "PACS"},
		{name: "that source from anywhere", sources: open, ip: "127.0.0.2", ae: "ANYWHERE", accepted: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuffer{}
			cfg := Config{AETitles: []string{"PRINTREG"}, Sources: c.sources,
				AssociationRequestTimeout: 5 * time.Minute, ARTIMTimeout: 5 * time.Minute}
			srv := startServerLog(t, cfg, newMemHandler(), zerolog.New(logs))
			if c.refused {
				conn := dialFrom(t, c.ip, srv.addr)
				expectClosedByServer(t, conn, 30*time.Second)
				if s := srv.Stats(); s.Refused != 1 || s.Rejected != 0 || s.Accepted != 0 {
					t.Errorf("stats %+v: want one refusal and nothing else", s)
				}
				if got := logs.lines(`"reason":"network_not_allowed"`, `"peer":"`+c.ip+`:`); len(got) != 1 {
					t.Errorf("refusal lines %q", got)
				}
				return
			}
			_, err := Dial(context.Background(), srv.addr, ClientConfig{CallingAE: c.ae, CalledAE: "PRINTREG",
				Contexts: storageContexts(), LocalAddr: from(c.ip), Timeout: 20 * time.Second})
			var rj *AssociateRJ
			switch {
			case c.accepted && err != nil:
				t.Fatalf("association from %s as %s: %v", c.ip, c.ae, err)
			case !c.accepted && (!errors.As(err, &rj) || rj.Reason != RejectCallingAE):
				t.Fatalf("association from %s as %s: %v, want a calling AE rejection", c.ip, c.ae, err)
			}
			if s := srv.Stats(); s.Refused != 0 {
				t.Errorf("%d refused at accept", s.Refused)
			}
		})
	}
}

// TestReservedConnections: many unknown addresses take every connection
// they may, and a listed PACS still gets in, thanks to the reserve; without
// it, it does not. The reserve is the known addresses' to fill.
func TestReservedConnections(t *testing.T) {
	sources := []Source{{AETitle: "PACS", Networks: []string{"127.0.0.3/32"}}, {AETitle: "TOOL"}}
	cases := []struct {
		name      string
		reserved  int
		unknownOK int // connections unknown addresses get
		pacsIn    bool
	}{
		{name: "reserve", reserved: 4, unknownOK: 8, pacsIn: true},
		{name: "no reserve", reserved: -1, unknownOK: 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuffer{}
			cfg := Config{AETitles: []string{"PRINTREG"}, Sources: sources, MaxAssociations: 8,
				MaxConnections: 12, ReservedConnections: c.reserved,
				AssociationRequestTimeout: 5 * time.Minute, ARTIMTimeout: 5 * time.Minute}
			srv := startServerLog(t, cfg, newMemHandler(), zerolog.New(logs))
			const unknown = 20
			for i := 1; i <= unknown; i++ {
				dialFrom(t, "127.0.1."+strconv.Itoa(i), srv.addr) // closed at cleanup
			}
			waitFor(t, "the unknown addresses to be taken or refused", func() bool {
				total, _ := srv.connections()
				return total+int(srv.Stats().Refused) >= unknown
			})
			if total, other := srv.connections(); total != c.unknownOK || other != c.unknownOK {
				t.Fatalf("%d connections (%d unknown), want %d", total, other, c.unknownOK)
			}
			reason := `"reason":"unlisted_connection_limit"`
			if c.reserved < 0 {
				reason = `"reason":"connection_limit"`
			}
			if len(logs.lines(reason)) == 0 {
				t.Errorf("no %s line:\n%s", reason, logs)
			}
			if !c.pacsIn {
				conn := dialFrom(t, "127.0.0.3", srv.addr)
				expectClosedByServer(t, conn, 30*time.Second)
				return
			}
			echoAndStore(t, srv.addr, "127.0.0.3", "PACS", "1.2.3.5")
			waitFor(t, "the PACS connection to be forgotten", func() bool {
				total, _ := srv.connections()
				return total == c.unknownOK
			})
			// The known address may fill the reserve, and no more.
			for i := 0; i < c.reserved; i++ {
				dialFrom(t, "127.0.0.3", srv.addr)
			}
			waitFor(t, "the reserve to fill", func() bool { total, _ := srv.connections(); return total == 12 })
			before := srv.Stats().Refused
			expectClosedByServer(t, dialFrom(t, "127.0.0.3", srv.addr), 30*time.Second)
			if srv.Stats().Refused != before+1 || len(logs.lines(`"reason":"connection_limit"`, `"peer":"127.0.0.3:`)) != 1 {
				t.Errorf("the connection past the limit was not refused as such:\n%s", logs)
			}
		})
	}
}

func TestConnectionDefaults(t *testing.T) {
	cases := []struct {
		name                        string
		cfg                         Config
		maxConns, perAddr, reserved int
		screen                      bool
		preAssoc                    time.Duration
	}{
		{name: "defaults", maxConns: 52, perAddr: 8, preAssoc: DefaultAssociationRequestTimeout},
		{name: "listed networks reserve half and screen", cfg: Config{Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8"}}}},
			maxConns: 52, perAddr: 8, reserved: 26, screen: true, preAssoc: DefaultAssociationRequestTimeout},
		{name: "a source from anywhere: no screening", cfg: Config{Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8"}}, {AETitle: "X"}}},
			maxConns: 52, perAddr: 8, reserved: 26, preAssoc: DefaultAssociationRequestTimeout},
		{name: "set", cfg: Config{MaxAssociations: 4, MaxConnections: 10, MaxConnectionsPerAddress: 2, AssociationRequestTimeout: time.Second,
			ReservedConnections: 3, Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8"}}}},
			maxConns: 10, perAddr: 2, reserved: 3, screen: true, preAssoc: time.Second},
		{name: "per address follows associations per source", cfg: Config{MaxAssociationsPerSource: 20}, maxConns: 52, perAddr: 20, preAssoc: DefaultAssociationRequestTimeout},
	}
	for _, c := range cases {
		p, err := newPolicy(c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.cfg.MaxConnections != c.maxConns || p.cfg.MaxConnectionsPerAddress != c.perAddr || p.reserved != c.reserved ||
			p.screen != c.screen || p.cfg.AssociationRequestTimeout != c.preAssoc {
			t.Errorf("%s: max %d, per address %d, reserved %d, screen %v, pre-association %v", c.name,
				p.cfg.MaxConnections, p.cfg.MaxConnectionsPerAddress, p.reserved, p.screen, p.cfg.AssociationRequestTimeout)
		}
	}
}

// TestRejectionsRateLimited: a host that asks again and again with a calling
// AE title that is not allowed gets an A-ASSOCIATE-RJ every time, and the
// log one line for all of them, then one with the count held back.
func TestRejectionsRateLimited(t *testing.T) {
	logs := &logBuffer{}
	srv := startServerLog(t, Config{AETitles: []string{"PRINTREG"}, Sources: []Source{{AETitle: "PACS"}}}, newMemHandler(), zerolog.New(logs))
	now := time.Now()
	srv.quiet.SetClock(func() time.Time { return now })
	attempt := func() {
		t.Helper()
		_, err := Dial(context.Background(), srv.addr, ClientConfig{CallingAE: "INTRUDER", CalledAE: "PRINTREG",
			Contexts: storageContexts(), LocalAddr: from("127.0.0.2"), Timeout: 20 * time.Second})
		var rj *AssociateRJ
		if !errors.As(err, &rj) || rj.Reason != RejectCallingAE {
			t.Fatalf("association as INTRUDER: %v, want a calling AE rejection", err)
		}
	}
	for i := 0; i < 20; i++ {
		attempt()
	}
	waitFor(t, "the rejections to be counted", func() bool { return srv.Stats().Rejected == 20 })
	if got := logs.lines("association rejected", `"peer":"127.0.0.2:`); len(got) != 1 || !strings.Contains(got[0], `"suppressed":0`) {
		t.Fatalf("lines for 20 rejections: %q", got)
	}
	later := now.Add(11 * time.Second)
	srv.quiet.SetClock(func() time.Time { return later })
	attempt()
	if got := logs.lines("association rejected", `"peer":"127.0.0.2:`); len(got) != 2 || !strings.Contains(got[1], `"suppressed":19`) {
		t.Fatalf("lines after the window: %q", got)
	}
}

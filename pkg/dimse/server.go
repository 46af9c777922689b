package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/loglimit"
)

// Handler receives the instances of C-STORE requests.
type Handler interface {
	// Ready is asked before an association is accepted. An error refuses
	// the association as transient congestion, so that the sender queues
	// and retries instead of losing instances: use it when the store is
	// unreachable or full.
	Ready(ctx context.Context) error
	// BeginStore is called when a C-STORE request arrives, before its data
	// set. It returns a sink for the data set bytes, or a failure Result
	// (the data set is then read and dropped, and the result sent).
	BeginStore(ctx context.Context, req *StoreRequest) (Sink, Result)
}

// Sink receives one data set as it arrives: the bytes exactly as sent, in
// the negotiated transfer syntax, without file meta.
type Sink interface {
	io.Writer
	// Commit is called after the last fragment. It returns once the
	// instance is durable (success) or known not to be stored (failure);
	// its result is sent to the peer as the C-STORE response status.
	Commit(ctx context.Context) Result
	// Abort discards what was written: the transfer did not complete.
	Abort()
}

// Result is the outcome of one C-STORE: a status and, for failures, a short
// comment for the peer (at most 64 characters, no identifiers).
type Result struct {
	Status  dicomstatus.Code
	Comment string
}

// Association describes an accepted association.
type Association struct {
	// ID numbers associations in this process, for logs.
	ID                     uint64
	CallingAE, CalledAE    string
	RemoteAddr             net.Addr
	ImplementationClassUID string
	ImplementationVersion  string
	TLS                    bool
}

// StoreRequest describes one C-STORE request.
type StoreRequest struct {
	Association       *Association
	ContextID         byte
	SOPClassUID       string
	SOPInstanceUID    string
	TransferSyntaxUID string
	MessageID         uint16
	Priority          uint16
	MoveOriginatorAE  string
	// MaxBytes is the size limit that applies to this data set; the server
	// enforces it, the handler may use it to choose a spool.
	MaxBytes int64
}

// Stats are cumulative counters of a server.
type Stats struct {
	Accepted, Rejected, Aborted, Released uint64
	Stored, Failed                        uint64
	BytesReceived                         uint64
	// Refused counts connections closed as soon as they were accepted,
	// before anything was read: address outside the sources' networks, or
	// a connection limit reached.
	Refused uint64
}

// Server is a DICOM storage SCP.
type Server struct {
	pol *policy
	h   Handler
	log zerolog.Logger

	mu       sync.Mutex
	conns    map[*assoc]struct{}
	active   int
	perAE    map[string]int
	perAddr  map[netip.Addr]int
	draining atomic.Bool
	nextID   atomic.Uint64

	// Open connections, counted when accepted: in all, from addresses
	// outside the sources' networks, and per address.
	connMu      sync.Mutex
	connTotal   int
	connOther   int
	connPerAddr map[netip.Addr]int
	// quiet limits the log lines a peer can cause before it has an
	// association (refusals, silence, malformed requests, rejections), per
	// address and reason.
	quiet loglimit.Limiter

	stats struct {
		accepted, rejected, aborted, released atomic.Uint64
		stored, failed, bytes, refused        atomic.Uint64
	}
}

// NewServer validates cfg and returns a server that hands instances to h.
func NewServer(cfg Config, h Handler, log zerolog.Logger) (*Server, error) {
	if h == nil {
		return nil, errors.New("dimse: a handler is required")
	}
	p, err := newPolicy(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{pol: p, h: h, log: log.With().Str("component", "dimse").Logger(),
		conns: map[*assoc]struct{}{}, perAE: map[string]int{}, perAddr: map[netip.Addr]int{},
		connPerAddr: map[netip.Addr]int{}}, nil
}

// Config returns the effective configuration, defaults filled in.
func (s *Server) Config() Config { return s.pol.cfg }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted: s.stats.accepted.Load(), Rejected: s.stats.rejected.Load(),
		Aborted: s.stats.aborted.Load(), Released: s.stats.released.Load(),
		Stored: s.stats.stored.Load(), Failed: s.stats.failed.Load(),
		BytesReceived: s.stats.bytes.Load(), Refused: s.stats.refused.Load(),
	}
}

// Active returns the number of associations being served.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Serve accepts associations on ln until ctx is cancelled, then stops
// accepting, lets instances in flight finish for up to ShutdownGrace,
// aborts idle associations, and returns once every connection is closed.
// With TLS configured, ln carries plain TCP and Serve does the handshake.
// It returns nil after a shutdown through ctx. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
			return
		}
		s.draining.Store(true)
		_ = ln.Close()
		s.interruptIdle()
		t := time.NewTimer(s.pol.cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			hardCancel()
			s.closeAll()
		case <-stop:
		}
	}()
	var err error
	backoff := 5 * time.Millisecond
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				break
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http does, rather than stop serving.
			s.log.Warn().Err(err).Msg("accepting a connection failed")
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		accepted := time.Now()
		addr := remoteAddr(c)
		known, reason := s.openConn(addr)
		if reason != "" {
			s.refuse(c, addr, reason)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.closeConn(addr, known)
			s.handle(hard, c, addr, accepted)
		}()
	}
	if ctx.Err() == nil {
		// The listener failed on its own: stop the associations too.
		s.draining.Store(true)
		s.interruptIdle()
	}
	wg.Wait()
	close(stop)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("dimse: accepting connections: %w", err)
}

// remoteAddr is the peer's IP address, invalid when the connection is not
// IP.
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(ta.IP)
		return a.Unmap()
	}
	return netip.Addr{}
}

// Reasons a connection is refused when accepted, as logged.
const (
	refuseNetwork  = "network_not_allowed"
	refuseAddress  = "address_connection_limit"
	refuseTotal    = "connection_limit"
	refuseUnlisted = "unlisted_connection_limit"
)

var refusalText = map[string]string{
	refuseNetwork:  "connection refused: address outside the networks of the configured sources",
	refuseAddress:  "connection refused: too many connections from this address",
	refuseTotal:    "connection refused: connection limit reached",
	refuseUnlisted: "connection refused: the connections open to addresses outside the sources' networks are at their limit (the rest are reserved)",
}

// openConn counts a new connection from addr, or says why it is refused.
// It reads nothing from the connection.
func (s *Server) openConn(addr netip.Addr) (known bool, reason string) {
	p := s.pol
	known = addr.IsValid() && p.isKnown(addr)
	if p.screen && !known {
		return false, refuseNetwork
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch {
	case addr.IsValid() && s.connPerAddr[addr] >= p.cfg.MaxConnectionsPerAddress:
		return known, refuseAddress
	case s.connTotal >= p.cfg.MaxConnections:
		return known, refuseTotal
	case !known && s.connOther >= p.cfg.MaxConnections-p.reserved:
		return known, refuseUnlisted
	}
	s.connTotal++
	if !known {
		s.connOther++
	}
	if addr.IsValid() {
		s.connPerAddr[addr]++
	}
	return known, ""
}

// closeConn forgets a connection counted by openConn.
func (s *Server) closeConn(addr netip.Addr, known bool) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.connTotal--
	if !known {
		s.connOther--
	}
	if addr.IsValid() {
		if s.connPerAddr[addr]--; s.connPerAddr[addr] <= 0 {
			delete(s.connPerAddr, addr)
		}
	}
}

// refuse logs why a connection that was just accepted is refused (the
// peer's address and the reason, nothing else), then closes it with a
// reset rather than an orderly close: nothing was read, nothing is owed.
func (s *Server) refuse(c net.Conn, addr netip.Addr, reason string) {
	s.stats.refused.Add(1)
	if ok, suppressed := s.quiet.Allow(addr.String() + " " + reason); ok {
		s.connMu.Lock()
		fromAddr, total := s.connPerAddr[addr], s.connTotal
		s.connMu.Unlock()
		s.log.Warn().Str("peer", c.RemoteAddr().String()).Str("reason", reason).Int("connections_from_address", fromAddr).
			Int("connections", total).Uint64("suppressed", suppressed).Msg(refusalText[reason])
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (s *Server) interruptIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a := range s.conns {
		if !a.inOp.Load() {
			_ = a.conn.SetReadDeadline(time.Now())
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a := range s.conns {
		_ = a.conn.Close()
	}
}

// assoc is the state of one connection.
type assoc struct {
	s       *Server
	conn    net.Conn
	rd      pduReader
	info    Association
	src     *source
	addr    netip.Addr
	peerMax uint32
	raw     syscall.RawConn // the TCP socket, for quickACK
	ctxs    map[byte]acceptedCtx
	inOp    atomic.Bool
	log     zerolog.Logger

	cmdBuf []byte
	cmdCtx byte
	op     *operation
	stored int
	failed int
}

type acceptedCtx struct {
	abstract, syntax string
}

// operation is a DIMSE request whose data set is arriving.
type operation struct {
	ctxID  byte
	cmd    *Command
	sink   Sink
	result Result // decided failure when sink is nil
	n      int64
	max    int64
}

// deadlineConn sets the read deadline as bytes are asked for. Before the
// association is established the deadline is fixed (the ARTIM timer); after,
// it slides, so that the idle timeout bounds the silence between bytes and
// not a whole transfer.
type deadlineConn struct {
	a       *assoc
	fixed   time.Time
	idle    time.Duration
	lastSet time.Time
}

var errDraining = errors.New("dimse: server is shutting down")

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.a.s.draining.Load() && !d.a.inOp.Load() {
		return 0, errDraining
	}
	if !d.fixed.IsZero() {
		_ = d.a.conn.SetReadDeadline(d.fixed)
	} else if now := time.Now(); now.Sub(d.lastSet) > d.idle/8 {
		_ = d.a.conn.SetReadDeadline(now.Add(d.idle))
		d.lastSet = now
	}
	n, err := d.a.conn.Read(p)
	if d.a.raw != nil {
		quickACK(d.a.raw)
	}
	return n, err
}

func (s *Server) handle(ctx context.Context, c net.Conn, addr netip.Addr, accepted time.Time) {
	cfg := s.pol.cfg
	a := &assoc{s: s, conn: c, ctxs: map[byte]acceptedCtx{}, addr: addr}
	a.info.ID = s.nextID.Add(1)
	a.info.RemoteAddr = c.RemoteAddr()
	if tc, ok := c.(*net.TCPConn); ok {
		a.raw, _ = tc.SyscallConn()
	}
	a.log = s.log.With().Uint64("assoc", a.info.ID).Str("peer", c.RemoteAddr().String()).Logger()
	defer c.Close()
	// Until the whole association request is in (TLS handshake included),
	// the connection has the short pre-association deadline.
	rqDeadline := accepted.Add(min(cfg.ARTIMTimeout, cfg.AssociationRequestTimeout))

	if s.pol.tlsConfig != nil {
		tc := tls.Server(c, s.pol.tlsConfig)
		_ = c.SetDeadline(rqDeadline)
		if err := tc.HandshakeContext(ctx); err != nil {
			a.quietly(zerolog.InfoLevel, "tls_handshake_failed").Err(err).Msg("TLS handshake failed")
			s.stats.rejected.Add(1)
			return
		}
		_ = c.SetDeadline(time.Time{})
		a.conn = tc
		a.info.TLS = true
	}
	s.mu.Lock()
	s.conns[a] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, a)
		s.mu.Unlock()
	}()

	// Sta2: waiting for A-ASSOCIATE-RQ with the ARTIM timer running.
	dc := &deadlineConn{a: a, fixed: rqDeadline, idle: cfg.IdleTimeout}
	a.rd = pduReader{r: bufio.NewReaderSize(dc, 64<<10), maxPData: uint32(cfg.MaxPDULength)}
	typ, length, err := a.rd.next()
	if err != nil {
		s.stats.rejected.Add(1)
		if !a.noRequest(err) {
			a.quietly(zerolog.InfoLevel, "no_association_request").Err(err).Msg("no association request")
		}
		a.abortOnProtocolError(err)
		return
	}
	if typ != pduAssociateRQ {
		a.quietly(zerolog.InfoLevel, "unexpected_pdu_before_association_request").Msgf("PDU type 0x%02X before the association request", typ)
		s.stats.rejected.Add(1)
		if typ != pduAbort {
			a.sendAbort(AbortReasonUnexpectedPDU)
		}
		return
	}
	body, err := a.rd.body(length)
	if err != nil {
		s.stats.rejected.Add(1)
		if !a.noRequest(err) {
			a.quietly(zerolog.InfoLevel, "association_request_cut_short").Err(err).Msg("association request cut short")
		}
		return
	}
	rq, err := DecodeAssociateRQ(body)
	if err != nil {
		a.quietly(zerolog.InfoLevel, "malformed_association_request").Err(err).Msg("malformed association request")
		s.stats.rejected.Add(1)
		a.abortOnProtocolError(err)
		return
	}
	a.info.CallingAE, a.info.CalledAE = rq.CallingAE, rq.CalledAE
	a.info.ImplementationClassUID = rq.UserInfo.ImplementationClassUID
	a.info.ImplementationVersion = rq.UserInfo.ImplementationVersion
	a.log = a.log.With().Str("calling_ae", rq.CallingAE).Str("called_ae", rq.CalledAE).Logger()

	rj := s.admit(ctx, a, rq)
	if rj != nil {
		s.stats.rejected.Add(1)
		a.quietly(zerolog.InfoLevel, fmt.Sprintf("rejected %d %d", rj.Source, rj.Reason)).
			Uint8("result", rj.Result).Uint8("source", rj.Source).Uint8("reason", rj.Reason).
			Msgf("association rejected: %s", RejectReasonText(rj.Source, rj.Reason))
		if a.send(rj.Encode()) == nil {
			a.awaitClose()
		}
		return
	}
	defer s.release(a)

	ac := s.negotiate(a, rq)
	if err := a.send(ac.Encode()); err != nil {
		a.log.Info().Err(err).Msg("sending the association accept failed")
		return
	}
	s.stats.accepted.Add(1)
	a.log.Info().Int("contexts", len(rq.Contexts)).Int("accepted", len(a.ctxs)).
		Str("implementation", rq.UserInfo.ImplementationVersion).Bool("tls", a.info.TLS).Msg("association accepted")

	dc.fixed = time.Time{}
	a.serve(ctx)
}

// noRequest logs, at most once a while per address, a connection that
// timed out or closed before its association request was complete, and
// reports whether err was one of those.
func (a *assoc) noRequest(err error) bool {
	var ne net.Error
	var reason, msg string
	switch {
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		reason, msg = "association_request_timeout", "no complete association request within the deadline: closing"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		reason, msg = "closed_before_association_request", "connection closed before a complete association request"
	default:
		return false
	}
	if !a.s.draining.Load() {
		a.quietly(zerolog.InfoLevel, reason).Str("reason", reason).Msg(msg)
	}
	return true
}

// quietly starts a log line about a connection that is written at most
// once per address and key every 10 s, with the count of those held back
// since; it returns nil, on which zerolog's methods do nothing, when the
// line is held back. A peer failing in a loop cannot flood the log.
func (a *assoc) quietly(level zerolog.Level, key string) *zerolog.Event {
	ok, suppressed := a.s.quiet.Allow(a.addr.String() + " " + key)
	if !ok {
		return nil
	}
	return a.log.WithLevel(level).Uint64("suppressed", suppressed)
}

// admit decides whether to accept an association; it reserves the
// association's place in the limits when it does.
func (s *Server) admit(ctx context.Context, a *assoc, rq *AssociateRQ) *AssociateRJ {
	if rq.ProtocolVersion&1 == 0 {
		return &AssociateRJ{RejectPermanent, RejectSourceACSE, RejectProtocolVersion}
	}
	if rq.ApplicationContext != ApplicationContextName {
		return &AssociateRJ{RejectPermanent, RejectSourceUser, RejectAppContextUnsupported}
	}
	if len(s.pol.called) > 0 && !s.pol.called[rq.CalledAE] {
		return &AssociateRJ{RejectPermanent, RejectSourceUser, RejectCalledAE}
	}
	src, ok := s.pol.sourceFor(rq.CallingAE, a.addr)
	if !ok || rq.CallingAE == "" {
		return &AssociateRJ{RejectPermanent, RejectSourceUser, RejectCallingAE}
	}
	if s.draining.Load() {
		return &AssociateRJ{RejectTransient, RejectSourcePresentation, RejectTemporaryCongestion}
	}
	s.mu.Lock()
	if s.active >= s.pol.cfg.MaxAssociations || s.perAE[rq.CallingAE] >= src.MaxAssociations ||
		(a.addr.IsValid() && s.perAddr[a.addr] >= s.pol.cfg.MaxAssociationsPerSource) {
		s.mu.Unlock()
		return &AssociateRJ{RejectTransient, RejectSourcePresentation, RejectLocalLimitExceeded}
	}
	s.active++
	s.perAE[rq.CallingAE]++
	if a.addr.IsValid() {
		s.perAddr[a.addr]++
	}
	s.mu.Unlock()
	a.src = src
	rctx, cancel := context.WithTimeout(ctx, s.pol.cfg.ARTIMTimeout/2)
	err := s.h.Ready(rctx)
	cancel()
	if err != nil {
		a.log.Warn().Err(err).Msg("store not ready: refusing the association")
		s.release(a)
		return &AssociateRJ{RejectTransient, RejectSourcePresentation, RejectTemporaryCongestion}
	}
	return nil
}

func (s *Server) release(a *assoc) {
	if a.src == nil {
		return
	}
	s.mu.Lock()
	s.active--
	if s.perAE[a.info.CallingAE]--; s.perAE[a.info.CallingAE] <= 0 {
		delete(s.perAE, a.info.CallingAE)
	}
	if a.addr.IsValid() {
		if s.perAddr[a.addr]--; s.perAddr[a.addr] <= 0 {
			delete(s.perAddr, a.addr)
		}
	}
	s.mu.Unlock()
	a.src = nil
}

// negotiate answers each proposed presentation context.
func (s *Server) negotiate(a *assoc, rq *AssociateRQ) *AssociateAC {
	ac := &AssociateAC{ProtocolVersion: 1, CalledAE: rq.CalledAE, CallingAE: rq.CallingAE,
		ApplicationContext: ApplicationContextName}
	for _, pc := range rq.Contexts {
		ans := ContextAC{ID: pc.ID, Result: ContextAbstractSyntaxUnsupported}
		if pc.AbstractSyntax == VerificationSOPClass || s.pol.acceptsSOPClass(pc.AbstractSyntax) {
			ans.Result = ContextTransferSyntaxUnsupported
			// Accept as proposed: the first proposed syntax we store.
			for _, ts := range pc.TransferSyntaxes {
				if s.pol.acceptsTransferSyntax(ts) {
					ans.Result, ans.TransferSyntax = ContextAccepted, ts
					break
				}
			}
		}
		if ans.Result == ContextAccepted {
			a.ctxs[pc.ID] = acceptedCtx{abstract: pc.AbstractSyntax, syntax: ans.TransferSyntax}
		}
		ac.Contexts = append(ac.Contexts, ans)
	}
	a.peerMax = rq.UserInfo.MaxLength
	if a.peerMax != 0 && a.peerMax < MinPDULength {
		a.peerMax = MinPDULength
	}
	ac.UserInfo = UserInfo{MaxLength: uint32(s.pol.cfg.MaxPDULength),
		ImplementationClassUID: ImplementationClassUID, ImplementationVersion: ImplementationVersionName}
	// Role selection: the requester may be SCU of what we accepted; we
	// never act as SCU. Asynchronous operations are not offered.
	for _, r := range rq.UserInfo.Roles {
		accepted := false
		for _, c := range a.ctxs {
			if c.abstract == r.SOPClassUID {
				accepted = true
			}
		}
		if accepted {
			ac.UserInfo.Roles = append(ac.UserInfo.Roles, RoleSelection{SOPClassUID: r.SOPClassUID, SCU: r.SCU})
		}
	}
	return ac
}

// serve runs the established association (Sta6) until release or abort.
func (a *assoc) serve(ctx context.Context) {
	defer a.dropOp()
	for {
		if a.s.draining.Load() && a.op == nil {
			a.log.Info().Msg("aborting the association: server shutting down")
			a.s.stats.aborted.Add(1)
			a.sendAbortSource(AbortSourceUser, AbortReasonNotSpecified)
			return
		}
		typ, length, err := a.rd.next()
		if err != nil {
			a.endOnError(err)
			return
		}
		switch typ {
		case pduPData:
			if err := a.pdata(ctx); err != nil {
				a.endOnError(err)
				return
			}
		case pduReleaseRQ:
			if _, err := a.rd.body(length); err != nil {
				a.endOnError(err)
				return
			}
			if a.op != nil || len(a.cmdBuf) > 0 {
				a.endOnError(protoErr(AbortReasonUnexpectedPDU, "release requested in the middle of a message"))
				return
			}
			a.s.stats.released.Add(1)
			a.log.Info().Int("stored", a.stored).Int("failed", a.failed).Msg("association released")
			if a.send(encodeReleaseRP()) == nil {
				a.awaitClose()
			}
			return
		case pduAbort:
			b, _ := a.rd.body(length)
			a.s.stats.aborted.Add(1)
			reason := "peer aborted"
			if len(b) == 4 {
				reason = AbortReasonText(b[2], b[3])
			}
			a.log.Info().Int("stored", a.stored).Int("failed", a.failed).Bool("mid_instance", a.op != nil).
				Msgf("association aborted by the peer: %s", reason)
			return
		default:
			a.endOnError(protoErr(AbortReasonUnexpectedPDU, "unexpected PDU type 0x%02X on an established association", typ))
			return
		}
	}
}

// endOnError aborts the association after a read failure or protocol error.
func (a *assoc) endOnError(err error) {
	a.s.stats.aborted.Add(1)
	ev := a.log.Info()
	if a.op != nil {
		ev = a.log.Warn()
	}
	var ne net.Error
	switch {
	case errors.Is(err, errDraining) || (a.s.draining.Load() && errors.As(err, &ne) && ne.Timeout()):
		a.log.Info().Msg("aborting the association: server shutting down")
		a.sendAbortSource(AbortSourceUser, AbortReasonNotSpecified)
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		ev.Bool("mid_instance", a.op != nil).Msg("peer silent for longer than the idle timeout: aborting")
		a.sendAbort(AbortReasonNotSpecified)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		ev.Bool("mid_instance", a.op != nil).Msg("connection closed without release")
	default:
		var pe *ProtocolError
		if errors.As(err, &pe) {
			ev.Err(err).Msg("protocol violation: aborting")
			a.sendAbort(pe.Reason)
			return
		}
		ev.Err(err).Msg("association failed")
	}
}

func (a *assoc) abortOnProtocolError(err error) {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		a.sendAbort(pe.Reason)
	}
}

func (a *assoc) sendAbort(reason byte) { a.sendAbortSource(AbortSourceProvider, reason) }

func (a *assoc) sendAbortSource(source, reason byte) {
	_ = a.send(encodeAbort(source, reason))
}

func (a *assoc) send(b []byte) error {
	_ = a.conn.SetWriteDeadline(time.Now().Add(a.s.pol.cfg.WriteTimeout))
	_, err := a.conn.Write(b)
	return err
}

// awaitClose waits, under the ARTIM timer, for the peer to close the
// connection after a release response or a rejection (PS3.8 Sta13).
func (a *assoc) awaitClose() {
	_ = a.conn.SetReadDeadline(time.Now().Add(a.s.pol.cfg.ARTIMTimeout))
	var b [512]byte
	for {
		if _, err := a.conn.Read(b[:]); err != nil {
			return
		}
	}
}

func (a *assoc) dropOp() {
	if a.op != nil && a.op.sink != nil {
		a.op.sink.Abort()
		a.s.stats.failed.Add(1)
	}
	a.op = nil
	a.inOp.Store(false)
}

// pdata handles one P-DATA-TF PDU, PDV by PDV.
func (a *assoc) pdata(ctx context.Context) error {
	for {
		v, ok, err := a.rd.nextPDV()
		if err != nil || !ok {
			return err
		}
		if _, known := a.ctxs[v.ContextID]; !known {
			return protoErr(AbortReasonInvalidParamValue, "PDV on presentation context %d, which was not accepted", v.ContextID)
		}
		if v.Command {
			if err := a.commandPDV(ctx, v); err != nil {
				return err
			}
			continue
		}
		if a.op == nil {
			return protoErr(AbortReasonUnexpectedParam, "data set fragment without a command")
		}
		if v.ContextID != a.op.ctxID {
			return protoErr(AbortReasonInvalidParamValue, "data set fragment on context %d for a command on context %d", v.ContextID, a.op.ctxID)
		}
		op := a.op
		op.n += int64(v.Len)
		a.s.stats.bytes.Add(uint64(v.Len))
		if op.sink != nil && op.n > op.max {
			op.sink.Abort()
			op.sink = nil
			op.result = Result{dicomstatus.OutOfResources, "instance larger than the configured limit"}
			a.log.Warn().Int64("limit", op.max).Msg("instance over the size limit: dropping it")
		}
		var w io.Writer = io.Discard
		if op.sink != nil {
			w = op.sink
		}
		werr, err := a.rd.payload(w)
		if err != nil {
			return err
		}
		if werr != nil {
			op.sink.Abort()
			op.sink = nil
			op.result = Result{dicomstatus.OutOfResources, "could not spool the instance"}
			a.log.Error().Err(werr).Msg("spooling the instance failed")
		}
		if v.Last {
			if err := a.finishOp(ctx); err != nil {
				return err
			}
		}
	}
}

func (a *assoc) commandPDV(ctx context.Context, v pdv) error {
	if a.op != nil {
		return protoErr(AbortReasonUnexpectedParam, "command fragment while a data set is arriving")
	}
	if len(a.cmdBuf) > 0 && v.ContextID != a.cmdCtx {
		return protoErr(AbortReasonInvalidParamValue, "command fragments on two presentation contexts")
	}
	if len(a.cmdBuf)+int(v.Len) > MaxCommandBytes {
		return protoErr(AbortReasonInvalidParamValue, "command set longer than %d bytes", MaxCommandBytes)
	}
	a.cmdCtx = v.ContextID
	buf := cmdWriter{b: a.cmdBuf}
	if _, err := a.rd.payload(&buf); err != nil {
		return err
	}
	a.cmdBuf = buf.b
	if !v.Last {
		return nil
	}
	cmd, err := DecodeCommand(a.cmdBuf)
	a.cmdBuf = a.cmdBuf[:0]
	if err != nil {
		return protoErr(AbortReasonInvalidParamValue, "%v", err)
	}
	return a.dispatch(ctx, v.ContextID, cmd)
}

type cmdWriter struct{ b []byte }

func (w *cmdWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// dispatch starts a DIMSE operation.
func (a *assoc) dispatch(ctx context.Context, ctxID byte, cmd *Command) error {
	pc := a.ctxs[ctxID]
	switch {
	case cmd.Field == CCancelRQ:
		return nil
	case cmd.Field&0x8000 != 0:
		a.log.Info().Msgf("ignoring an unsolicited response (command 0x%04X)", cmd.Field)
		return nil
	}
	op := &operation{ctxID: ctxID, cmd: cmd, max: int64(a.src.MaxObjectBytes)}
	if cmd.HasDataSet {
		// Marked before the handler runs, so a shutdown from now on lets
		// this instance finish.
		a.inOp.Store(true)
	}
	switch cmd.Field {
	case CEchoRQ:
		if pc.abstract != VerificationSOPClass {
			op.result = Result{dicomstatus.UnrecognizedOperation, "C-ECHO on a storage context"}
		}
	case CStoreRQ:
		op.result = a.beginStore(ctx, pc, cmd, op)
	default:
		op.result = Result{dicomstatus.UnrecognizedOperation, "only C-ECHO and C-STORE are offered"}
	}
	if !cmd.HasDataSet {
		if op.sink != nil {
			op.sink.Abort()
			op.sink = nil
		}
		if cmd.Field == CStoreRQ && op.result.Status.IsSuccess() {
			op.result = Result{dicomstatus.CannotUnderstand, "C-STORE request without a data set"}
		}
		return a.respond(op)
	}
	a.op = op
	a.inOp.Store(true)
	return nil
}

func (a *assoc) beginStore(ctx context.Context, pc acceptedCtx, cmd *Command, op *operation) Result {
	if pc.abstract == VerificationSOPClass {
		return Result{dicomstatus.UnrecognizedOperation, "C-STORE on the verification context"}
	}
	if !a.s.pol.acceptsSOPClass(cmd.AffectedSOPClassUID) {
		return Result{dicomstatus.SOPClassNotSupported, "SOP class not supported"}
	}
	if cmd.AffectedSOPClassUID != pc.abstract {
		return Result{dicomstatus.SOPClassNotSupported, "SOP class differs from the presentation context"}
	}
	if cmd.AffectedSOPInstanceUID == "" {
		return Result{dicomstatus.CannotUnderstand, "C-STORE request without a SOP instance UID"}
	}
	if !cmd.HasDataSet {
		return Result{dicomstatus.CannotUnderstand, "C-STORE request without a data set"}
	}
	req := &StoreRequest{Association: &a.info, ContextID: op.ctxID, SOPClassUID: cmd.AffectedSOPClassUID,
		SOPInstanceUID: cmd.AffectedSOPInstanceUID, TransferSyntaxUID: pc.syntax, MessageID: cmd.MessageID,
		Priority: cmd.Priority, MoveOriginatorAE: cmd.MoveOriginatorAE, MaxBytes: op.max}
	sink, res := a.s.h.BeginStore(ctx, req)
	if sink == nil && res.Status.IsSuccess() {
		res = Result{dicomstatus.ProcessingFailure, "no sink for the instance"}
	}
	if !res.Status.IsSuccess() {
		if sink != nil {
			sink.Abort()
		}
		return res
	}
	op.sink = sink
	return res
}

// finishOp completes the operation whose last data fragment arrived.
func (a *assoc) finishOp(ctx context.Context) error {
	op := a.op
	if op.sink != nil {
		op.result = op.sink.Commit(ctx)
		op.sink = nil
	}
	a.op = nil
	a.inOp.Store(false)
	return a.respond(op)
}

// respond sends the response to op's request.
func (a *assoc) respond(op *operation) error {
	cmd := op.cmd
	if cmd.Field == CStoreRQ {
		if op.result.Status.IsSuccess() {
			a.stored++
			a.s.stats.stored.Add(1)
		} else {
			a.failed++
			a.s.stats.failed.Add(1)
			a.log.Info().Str("status", op.result.Status.String()).Str("reason", op.result.Comment).Msg("instance not stored")
		}
	}
	rsp := &Command{Field: cmd.Field | 0x8000, MessageIDRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
		Status: op.result.Status}
	if !op.result.Status.IsSuccess() {
		rsp.ErrorComment = op.result.Comment
	}
	if cmd.Field == CEchoRQ && rsp.AffectedSOPClassUID == "" {
		rsp.AffectedSOPClassUID = VerificationSOPClass
	}
	return a.sendMessage(op.ctxID, rsp.Encode())
}

// sendMessage sends a command set as P-DATA-TF PDUs within the peer's
// maximum length.
func (a *assoc) sendMessage(ctxID byte, b []byte) error {
	return writeMessage(a.send, ctxID, b, true, a.peerMax)
}

// writeMessage fragments b into PDVs, one PDV per P-DATA-TF, each PDU within
// peerMax (0: no limit).
func writeMessage(send func([]byte) error, ctxID byte, b []byte, command bool, peerMax uint32) error {
	chunk := len(b)
	if peerMax != 0 && int(peerMax)-pdvHeaderLen < chunk {
		chunk = int(peerMax) - pdvHeaderLen
	}
	if chunk <= 0 {
		chunk = 1
	}
	for first := true; first || len(b) > 0; first = false {
		n := min(chunk, len(b))
		ctl := byte(0)
		if command {
			ctl |= pdvCommand
		}
		if n == len(b) {
			ctl |= pdvLast
		}
		pdu := make([]byte, 0, pduHeaderLen+pdvHeaderLen+n)
		pdu = append(pdu, pduPData, 0)
		pdu = appendU32(pdu, uint32(pdvHeaderLen+n))
		pdu = appendU32(pdu, uint32(2+n))
		pdu = append(pdu, ctxID, ctl)
		pdu = append(pdu, b[:n]...)
		if err := send(pdu); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

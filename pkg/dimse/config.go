package dimse

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/tlsconf"
)

// ImplementationClassUID identifies printreg in associations and in the
// file meta of the Part 10 files it writes. It is 2.25 followed by the
// first 128 bits of SHA-256("printreg implementation class") read as an
// unsigned decimal (PS3.5 B.2), derived once and fixed for good.
const ImplementationClassUID = "2.25.310887699891313315633640885725507839446"

// ImplementationVersionName accompanies ImplementationClassUID (at most 16
// characters).
const ImplementationVersionName = "PRINTREG_1"

// VerificationSOPClass is the C-ECHO abstract syntax.
const VerificationSOPClass = "1.2.840.10008.1.1"

// DefaultTransferSyntaxes returns the transfer syntaxes accepted when
// Config.TransferSyntaxes is empty: the uncompressed ones, deflate, the JPEG
// family, JPEG-LS, JPEG 2000, HTJ2K and RLE. Instances in them are stored as
// received.
func DefaultTransferSyntaxes() []string { return append([]string(nil), defaultTransferSyntaxes[:]...) }

var defaultTransferSyntaxes = [...]string{
	dicomx.ImplicitVRLittleEndian,
	dicomx.ExplicitVRLittleEndian,
	dicomx.DeflatedExplicitVRLittleEndian,
	dicomx.ExplicitVRBigEndian,
	"1.2.840.10008.1.2.4.50",  // JPEG Baseline (Process 1)
	"1.2.840.10008.1.2.4.51",  // JPEG Extended (Process 2 & 4)
	"1.2.840.10008.1.2.4.57",  // JPEG Lossless, Non-Hierarchical (Process 14)
	"1.2.840.10008.1.2.4.70",  // JPEG Lossless, First-Order Prediction (Process 14 [SV1])
	"1.2.840.10008.1.2.4.80",  // JPEG-LS Lossless
	"1.2.840.10008.1.2.4.81",  // JPEG-LS Lossy (Near-Lossless)
	"1.2.840.10008.1.2.4.90",  // JPEG 2000 (Lossless Only)
	"1.2.840.10008.1.2.4.91",  // JPEG 2000
	"1.2.840.10008.1.2.4.92",  // JPEG 2000 Part 2 Multi-component (Lossless Only)
	"1.2.840.10008.1.2.4.93",  // JPEG 2000 Part 2 Multi-component
	"1.2.840.10008.1.2.4.201", // HTJ2K (Lossless Only)
	"1.2.840.10008.1.2.4.202", // HTJ2K (Lossless RPCL)
	"1.2.840.10008.1.2.4.203", // HTJ2K
	"1.2.840.10008.1.2.5",     // RLE Lossless
}

// Defaults of Config.
const (
	DefaultMaxAssociations           = 32
	DefaultMaxAssociationsPerSource  = 8
	DefaultMaxPDULength              = 256 << 10
	DefaultMaxObjectBytes            = 4 << 30
	DefaultARTIMTimeout              = 30 * time.Second
	DefaultIdleTimeout               = 2 * time.Minute
	DefaultWriteTimeout              = 30 * time.Second
	DefaultShutdownGrace             = 30 * time.Second
	DefaultMaxConnectionsPerAddress  = 8
	DefaultAssociationRequestTimeout = 5 * time.Second
)

// MaxPDULengthLimit is the largest Config.MaxPDULength accepted.
const MaxPDULengthLimit = 16 << 20

// DefaultConfig returns the defaults that do not depend on other fields;
// the derived ones (MaxConnections, MaxConnectionsPerAddress,
// ReservedConnections, TransferSyntaxes) stay zero and are worked out when
// the server is built. Listen has no default.
func DefaultConfig() Config {
	return Config{
		MaxAssociations: DefaultMaxAssociations, MaxAssociationsPerSource: DefaultMaxAssociationsPerSource,
		AssociationRequestTimeout: DefaultAssociationRequestTimeout,
		MaxPDULength:              DefaultMaxPDULength, MaxObjectBytes: DefaultMaxObjectBytes,
		ARTIMTimeout: DefaultARTIMTimeout, IdleTimeout: DefaultIdleTimeout,
		WriteTimeout: DefaultWriteTimeout, ShutdownGrace: DefaultShutdownGrace,
	}
}

// Config configures the DIMSE receiver. The zero value of a field means its
// default; see Validate for the rules.
type Config struct {
	// Listen is the TCP address for Run-style wiring (e.g. ":11112");
	// Serve takes a listener and ignores it.
	Listen string `yaml:"listen"`
	// AETitles are the called AE titles the receiver answers to; empty
	// accepts any called AE title.
	AETitles []string `yaml:"ae_titles"`
	// Sources is the calling AE allow-list with per-source limits; empty
	// accepts any calling AE title with the default limits.
	Sources []Source `yaml:"sources"`
	// MaxAssociations bounds concurrent associations (default 32); more are
	// rejected as "local limit exceeded".
	MaxAssociations int `yaml:"max_associations" confval:"positive"`
	// MaxAssociationsPerSource bounds concurrent associations from one
	// calling AE title and from one network address (default 8).
	MaxAssociationsPerSource int `yaml:"max_associations_per_source" confval:"positive"`
	// MaxConnections bounds open TCP connections, with or without an
	// association on them (default max_associations + max_associations/2
	// + 4). A connection over it is closed as soon as it is accepted,
	// before anything is read.
	MaxConnections int `yaml:"max_connections" confval:"positive"`
	// MaxConnectionsPerAddress bounds open connections from one remote
	// address (default 8, and never below MaxAssociationsPerSource unless
	// set). A connection over it is closed as soon as it is accepted.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address" confval:"positive"`
	// ReservedConnections are the part of MaxConnections that only
	// addresses inside the Networks of Sources may take: other addresses
	// hold at most MaxConnections − ReservedConnections, so unknown hosts
	// cannot take every connection from the known PACS. Default: half of
	// MaxConnections when some source lists networks, none otherwise; a
	// negative value keeps none.
	ReservedConnections int `yaml:"reserved_connections"`
	// AssociationRequestTimeout bounds the time from accepting a
	// connection (TLS handshake included) until its whole A-ASSOCIATE-RQ
	// has arrived (default 5 s; ARTIMTimeout when that is shorter), so that
	// a socket that says nothing frees its connection quickly.
	AssociationRequestTimeout time.Duration `yaml:"association_request_timeout" confval:"positive"`
	// MaxPDULength is the maximum P-DATA-TF length the receiver advertises
	// and enforces (default 256 KiB, at most MaxPDULengthLimit). Longer
	// PDUs abort the association.
	MaxPDULength confval.ByteSize `yaml:"max_pdu_length"`
	// MaxObjectBytes bounds one received data set (default 4 GiB); larger
	// ones get status A700 and are not stored.
	MaxObjectBytes confval.ByteSize `yaml:"max_object_bytes" confval:"positive"`
	// ARTIMTimeout bounds the wait for the peer to close after release or
	// rejection (default 30 s), and the wait for the A-ASSOCIATE-RQ when it
	// is shorter than AssociationRequestTimeout.
	ARTIMTimeout time.Duration `yaml:"artim_timeout" confval:"positive"`
	// IdleTimeout bounds the silence between bytes of an established
	// association (default 2 min); a silent peer is aborted and a partial
	// instance dropped.
	IdleTimeout time.Duration `yaml:"idle_timeout" confval:"positive"`
	// WriteTimeout bounds sending one PDU (default 30 s).
	WriteTimeout time.Duration `yaml:"write_timeout" confval:"positive"`
	// ShutdownGrace is how long instances in flight may finish after the
	// serving context is cancelled (default 30 s).
	ShutdownGrace time.Duration `yaml:"shutdown_grace" confval:"positive"`
	// TransferSyntaxes accepted (default DefaultTransferSyntaxes()).
	TransferSyntaxes []string `yaml:"transfer_syntaxes"`
	// ExtraSOPClasses are accepted for storage in addition to the standard
	// storage SOP classes (private SOP classes, say).
	ExtraSOPClasses []string `yaml:"extra_sop_classes"`
	// DenySOPClasses are refused even though they are storage SOP classes.
	DenySOPClasses []string `yaml:"deny_sop_classes"`
	// TLS, when it names any file, makes the receiver speak DICOM TLS
	// (PS3.15 B.1 / BCP 195): TLS 1.2 or later, client certificates
	// verified when ClientCAFile is set.
	TLS tlsconf.Config `yaml:"tls"`
}

// Source is one allowed calling AE title.
type Source struct {
	AETitle string `yaml:"ae_title"`
	// Networks restrict the addresses the AE may connect from (CIDR or
	// single addresses); empty allows any. When every source lists
	// networks, a connection from outside all of them is closed as soon as
	// it is accepted; addresses inside them may use the reserved
	// connections (Config.ReservedConnections).
	Networks []string `yaml:"networks"`
	// MaxAssociations bounds this source's concurrent associations
	// (default Config.MaxAssociationsPerSource).
	MaxAssociations int `yaml:"max_associations"`
	// MaxObjectBytes bounds one data set from this source (default
	// Config.MaxObjectBytes).
	MaxObjectBytes confval.ByteSize `yaml:"max_object_bytes"`
}

// source is a validated Source.
type source struct {
	Source
	nets []netip.Prefix
}

// policy is a validated Config.
type policy struct {
	cfg     Config
	called  map[string]bool
	sources map[string]*source
	// known are the networks of all sources; screen is set when every
	// source lists networks, so that no address outside known can ever be
	// admitted and connections from there are closed at accept.
	known     []netip.Prefix
	screen    bool
	reserved  int            // effective ReservedConnections
	syntaxes  map[string]int // accepted transfer syntax → preference order
	extra     map[string]bool
	deny      map[string]bool
	tlsConfig *tls.Config
}

// withDefaults fills unset fields from DefaultConfig (see
// confval.FillDefaults: a field tagged positive is unset when zero or
// negative, MaxPDULength only when zero, a negative one being refused by
// Validate), then works out the derived ones.
func (c Config) withDefaults() Config {
	confval.FillDefaults(&c, DefaultConfig())
	if c.MaxConnections <= 0 {
		c.MaxConnections = c.MaxAssociations + c.MaxAssociations/2 + 4
	}
	if c.MaxConnectionsPerAddress <= 0 {
		c.MaxConnectionsPerAddress = max(DefaultMaxConnectionsPerAddress, c.MaxAssociationsPerSource)
	}
	if len(c.TransferSyntaxes) == 0 {
		c.TransferSyntaxes = DefaultTransferSyntaxes()
	}
	return c
}

// Validate checks the configuration and reports every problem at once.
func (c Config) Validate() error {
	_, err := newPolicy(c)
	return err
}

func validAE(ae string) bool {
	t := strings.Trim(ae, " ")
	if t == "" || len(ae) > 16 {
		return false
	}
	for _, r := range ae {
		if r < 0x20 || r > 0x7e || r == '\\' {
			return false
		}
	}
	return true
}

func newPolicy(c Config) (*policy, error) {
	c = c.withDefaults()
	var errs []error
	p := &policy{cfg: c, called: map[string]bool{}, sources: map[string]*source{},
		syntaxes: map[string]int{}, extra: map[string]bool{}, deny: map[string]bool{}}
	for _, ae := range c.AETitles {
		if !validAE(ae) {
			errs = append(errs, fmt.Errorf("dimse: ae_titles: %q is not a valid AE title (1–16 printable characters, no backslash)", ae))
		}
		p.called[strings.Trim(ae, " ")] = true
	}
	for i, s := range c.Sources {
		if !validAE(s.AETitle) {
			errs = append(errs, fmt.Errorf("dimse: sources[%d]: %q is not a valid AE title", i, s.AETitle))
			continue
		}
		ae := strings.Trim(s.AETitle, " ")
		if p.sources[ae] != nil {
			errs = append(errs, fmt.Errorf("dimse: sources[%d]: AE title %q listed twice", i, ae))
			continue
		}
		src := &source{Source: s}
		for _, n := range s.Networks {
			pfx, err := netip.ParsePrefix(n)
			if err != nil {
				a, aerr := netip.ParseAddr(n)
				if aerr != nil {
					errs = append(errs, fmt.Errorf("dimse: sources[%d]: %q is neither a CIDR prefix nor an address", i, n))
					continue
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			src.nets = append(src.nets, pfx.Masked())
		}
		p.known = append(p.known, src.nets...)
		if src.MaxAssociations <= 0 {
			src.MaxAssociations = c.MaxAssociationsPerSource
		}
		if src.MaxObjectBytes <= 0 {
			src.MaxObjectBytes = c.MaxObjectBytes
		}
		p.sources[ae] = src
	}
	p.screen = len(c.Sources) > 0
	for _, s := range c.Sources {
		if len(s.Networks) == 0 {
			p.screen = false
		}
	}
	if c.MaxConnections < c.MaxAssociations {
		errs = append(errs, fmt.Errorf("dimse: max_connections %d is below max_associations %d", c.MaxConnections, c.MaxAssociations))
	}
	switch {
	case c.ReservedConnections >= c.MaxConnections:
		errs = append(errs, fmt.Errorf("dimse: reserved_connections %d leaves no connection of max_connections %d to other addresses", c.ReservedConnections, c.MaxConnections))
	case c.ReservedConnections > 0 && len(p.known) == 0:
		errs = append(errs, errors.New("dimse: reserved_connections is set but no source lists networks to reserve them for"))
	case c.ReservedConnections > 0:
		p.reserved = c.ReservedConnections
	case c.ReservedConnections == 0 && len(p.known) > 0:
		p.reserved = c.MaxConnections / 2
	}
	if c.MaxPDULength < MinPDULength || c.MaxPDULength > MaxPDULengthLimit {
		errs = append(errs, fmt.Errorf("dimse: max_pdu_length %s: use %s to %s", c.MaxPDULength, confval.ByteSize(MinPDULength), confval.ByteSize(MaxPDULengthLimit)))
	}
	for i, ts := range c.TransferSyntaxes {
		if !isUID(ts) {
			errs = append(errs, fmt.Errorf("dimse: transfer_syntaxes: %q is not a UID", ts))
		}
		if _, dup := p.syntaxes[ts]; !dup {
			p.syntaxes[ts] = i
		}
	}
	for _, u := range c.ExtraSOPClasses {
		if !isUID(u) {
			errs = append(errs, fmt.Errorf("dimse: extra_sop_classes: %q is not a UID", u))
		}
		p.extra[u] = true
	}
	for _, u := range c.DenySOPClasses {
		if !isUID(u) {
			errs = append(errs, fmt.Errorf("dimse: deny_sop_classes: %q is not a UID", u))
		}
		p.deny[u] = true
	}
	if c.TLS.Enabled() {
		tc, err := c.TLS.Load()
		if err != nil {
			errs = append(errs, fmt.Errorf("dimse.%w", err)) // "dimse.tls: …"
		}
		p.tlsConfig = tc
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func isUID(s string) bool {
	if s == "" || len(s) > maxUIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// IsStorageSOPClass reports whether uid is a standard storage SOP class:
// the composite instance storage classes of PS3.4 Annex B (registered under
// 1.2.840.10008.5.1.4.1.1., including classes newer than the dictionary)
// and the RT delivery instruction storage classes (1.2.840.10008.5.1.4.34.),
// whose instances belong to a study. Query/retrieve models registered under
// the same root and non-patient objects (protocols, hanging protocols,
// color palettes, implant templates) are excluded: they carry no study for
// the pipeline to link.
func IsStorageSOPClass(uid string) bool {
	switch uid {
	case "1.2.840.10008.5.1.4.1.1.200.1", "1.2.840.10008.5.1.4.1.1.200.3": // defined protocol, protocol approval
		return false
	}
	name := dicomx.UIDName(uid)
	if strings.HasPrefix(uid, "1.2.840.10008.5.1.4.1.1.") {
		return name == "" || strings.Contains(name, "Storage")
	}
	if strings.HasPrefix(uid, "1.2.840.10008.5.1.4.34.") {
		return strings.Contains(name, "Storage")
	}
	return false
}

// AcceptsSOPClass reports whether the server stores instances of uid: a
// storage SOP class or one of ExtraSOPClasses, and not denied. STOW-RS
// applies the same rule.
func (s *Server) AcceptsSOPClass(uid string) bool { return s.pol.acceptsSOPClass(uid) }

// AcceptsTransferSyntax reports whether instances encoded in ts are stored.
func (s *Server) AcceptsTransferSyntax(ts string) bool { return s.pol.acceptsTransferSyntax(ts) }

func (p *policy) acceptsSOPClass(uid string) bool {
	if p.deny[uid] {
		return false
	}
	return p.extra[uid] || IsStorageSOPClass(uid)
}

func (p *policy) acceptsTransferSyntax(ts string) bool {
	_, ok := p.syntaxes[ts]
	return ok
}

// isKnown reports whether addr is inside the networks of a source.
func (p *policy) isKnown(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range p.known {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// sourceFor finds the allow-list entry for a calling AE, or nil.
func (p *policy) sourceFor(callingAE string, addr netip.Addr) (*source, bool) {
	if len(p.sources) == 0 {
		return &source{Source: Source{AETitle: callingAE, MaxAssociations: p.cfg.MaxAssociationsPerSource,
			MaxObjectBytes: p.cfg.MaxObjectBytes}}, true
	}
	s := p.sources[callingAE]
	if s == nil {
		return nil, false
	}
	if len(s.nets) == 0 {
		return s, true
	}
	addr = addr.Unmap()
	for _, n := range s.nets {
		if n.Contains(addr) {
			return s, true
		}
	}
	return nil, false
}

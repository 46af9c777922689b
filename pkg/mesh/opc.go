package mesh

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"io"
	"net/url"
	"path"
	"strings"
)

// OPC relationship types and namespaces a 3MF reader follows.
const (
	relModel     = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
	relThumbnail = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
	relTexture   = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dtexture"
	nsRels       = "http://schemas.openxmlformats.org/package/2006/relationships"
	nsTypes      = "http://schemas.openxmlformats.org/package/2006/content-types"
)

// opcPackage is a 3MF package opened for reading: the zip directory with
// every part name checked, and caps on what may be inflated. It is read by
// one goroutine, one part at a time.
type opcPackage struct {
	zr       *zip.Reader
	src      *countedAt
	parts    map[string]*zip.File // by lower-case part name without the leading '/'
	lim      Limits
	inflated int64 // bytes produced by inflating parts, all parts together
}

// countedAt counts the bytes actually read from the package file, so that
// a part's compression ratio is computed from what was read rather than
// from the sizes its directory entry declares.
type countedAt struct {
	r io.ReaderAt
	n int64
}

func (c *countedAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.n += int64(n)
	return n, err
}

// zipEntries reads the entry count from the end-of-central-directory
// record, so that a directory of millions of tiny entries is refused before
// archive/zip allocates a record for each.
func zipEntries(r io.ReaderAt, size int64) (uint64, bool) {
	const eocdLen = 22
	if size < eocdLen {
		return 0, false
	}
	n := min(size, eocdLen+65535)
	buf := make([]byte, n)
	if m, _ := r.ReadAt(buf, size-n); m < int(n) {
		return 0, false
	}
	for i := int(n) - eocdLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) != 0x06054b50 {
			continue
		}
		count := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
		if count != 0xFFFF || i < 20 {
			return count, true
		}
		// zip64: the locator sits just before the record
		loc := buf[i-20:]
		if binary.LittleEndian.Uint32(loc) != 0x07064b50 {
			return count, true
		}
		off := int64(binary.LittleEndian.Uint64(loc[8:]))
		var rec [40]byte
		if off < 0 || off > size-40 {
			return 0, false
		}
		if m, _ := r.ReadAt(rec[:], off); m < 40 || binary.LittleEndian.Uint32(rec[:]) != 0x06064b50 {
			return 0, false
		}
		return binary.LittleEndian.Uint64(rec[32:]), true
	}
	return 0, false
}

func openPackage(r io.ReaderAt, size int64, lim Limits) (*opcPackage, error) {
	if n, ok := zipEntries(r, size); !ok {
		return nil, malformed(ThreeMF, "not a zip package (no end-of-directory record)")
	} else if n > uint64(lim.MaxParts) {
		return nil, tooLarge(ThreeMF, "package has %d entries, more than the limit of %d", n, lim.MaxParts)
	}
	src := &countedAt{r: r}
	zr, err := zip.NewReader(src, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, malformed(ThreeMF, "not a valid zip package")
	}
	if len(zr.File) > lim.MaxParts {
		return nil, tooLarge(ThreeMF, "package has more than %d entries", lim.MaxParts)
	}
	p := &opcPackage{zr: zr, src: src, parts: make(map[string]*zip.File, len(zr.File)), lim: lim}
	for _, f := range zr.File {
		name := f.Name
		if strings.HasSuffix(name, "/") && f.UncompressedSize64 == 0 {
			continue // folder entry
		}
		if !validPartName(name) {
			return nil, malformed(ThreeMF, "package holds a part with an absolute, empty or parent-relative name")
		}
		key := strings.ToLower(name)
		if _, dup := p.parts[key]; dup {
			return nil, malformed(ThreeMF, "package holds two parts whose names differ only in case")
		}
		p.parts[key] = f
	}
	return p, nil
}

// validPartName: relative, '/'-separated, no empty, "." or ".." segments.
func validPartName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') || strings.ContainsRune(name, 0) {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// resolve turns a relationship target or a p:path into a part name
// ("/3D/3dmodel.model"), relative to the folder of the source part.
func resolvePart(sourceDir, target string) (string, bool) {
	if t, err := url.PathUnescape(target); err == nil {
		target = t
	}
	if strings.ContainsRune(target, '\\') || strings.Contains(target, "://") || strings.ContainsRune(target, 0) {
		return "", false
	}
	if !strings.HasPrefix(target, "/") {
		target = sourceDir + "/" + target
	}
	for _, seg := range strings.Split(target, "/") {
		if seg == ".." {
			return "", false
		}
	}
	p := path.Clean(target)
	if p == "/" || !strings.HasPrefix(p, "/") {
		return "", false
	}
	return p, true
}

func (p *opcPackage) has(part string) bool {
	_, ok := p.parts[strings.ToLower(strings.TrimPrefix(part, "/"))]
	return ok
}

// ratioFloor is how much a part inflates before its ratio is checked:
// small parts compress well without being bombs.
const ratioFloor = 1 << 20

// open inflates a part through the caps. A part whose directory entry
// declares more than the caps allow is refused at once (archive/zip never
// delivers a size other than the declared one without failing); otherwise
// the caps and the ratio are checked on the bytes really inflated and read
// as the part is consumed, whatever the directory says.
func (p *opcPackage) open(part string) (io.ReadCloser, error) {
	f := p.parts[strings.ToLower(strings.TrimPrefix(part, "/"))]
	if f == nil {
		return nil, malformed(ThreeMF, "a referenced part is missing from the package")
	}
	if f.UncompressedSize64 > uint64(p.lim.MaxPartUncompressed) {
		return nil, tooLarge(ThreeMF, "a part declares %d inflated bytes, over the limit of %d bytes per part", f.UncompressedSize64, p.lim.MaxPartUncompressed)
	}
	if left := p.lim.MaxUncompressed - p.inflated; f.UncompressedSize64 > uint64(max(left, 0)) {
		return nil, tooLarge(ThreeMF, "a part declares %d inflated bytes, over the remaining budget of %d bytes", f.UncompressedSize64, left)
	}
	rc, err := f.Open()
	if err != nil {
		if errors.Is(err, zip.ErrAlgorithm) {
			return nil, unsupported(ThreeMF, "a part uses a compression method other than stored or deflate")
		}
		return nil, malformed(ThreeMF, "a part cannot be opened")
	}
	return &capReader{rc: rc, p: p}, nil
}

// capReader counts what a part really costs: the bytes it inflates to,
// against the part and package caps, and the compressed bytes read from
// the file for it, for the ratio. archive/zip checks the declared size and
// the CRC as well.
type capReader struct {
	rc       io.ReadCloser
	p        *opcPackage
	inflated int64
	read     int64 // compressed bytes read (the decompressor reads ahead by at most 4 KiB)
}

func (c *capReader) Read(b []byte) (int, error) {
	p := c.p
	at := p.src.n
	n, err := c.rc.Read(b)
	c.read += p.src.n - at
	c.inflated += int64(n)
	p.inflated += int64(n)
	switch {
	case c.inflated > p.lim.MaxPartUncompressed:
		return n, tooLarge(ThreeMF, "a part inflates to more than %d bytes, the limit per part", p.lim.MaxPartUncompressed)
	case p.inflated > p.lim.MaxUncompressed:
		return n, tooLarge(ThreeMF, "the package inflates to more than its %d-byte budget", p.lim.MaxUncompressed)
	case c.inflated > ratioFloor && c.inflated/max(c.read, 1) > p.lim.MaxRatio:
		return n, tooLarge(ThreeMF, "a part inflates %d times the compressed bytes read for it (zip bomb guard, limit %d)", c.inflated/max(c.read, 1), p.lim.MaxRatio)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		var fe *FormatError
		if !errors.As(err, &fe) {
			err = malformed(ThreeMF, "a part's compressed data is corrupt")
		}
	}
	return n, err
}

func (c *capReader) Close() error { return c.rc.Close() }

// relationship is one entry of a .rels part.
type relationship struct {
	target   string // resolved part name
	typ      string
	external bool
}

// relsFor returns the relationships part of a source part ("" = package).
func relsFor(source string) string {
	dir, file := path.Split(source)
	if source == "" {
		return "/_rels/.rels"
	}
	return path.Clean(dir) + "/_rels/" + file + ".rels"
}

// readRels parses a relationships part; missing parts give nil.
func (p *opcPackage) readRels(source string) ([]relationship, error) {
	name := relsFor(source)
	if !p.has(name) {
		return nil, nil
	}
	rc, err := p.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	srcDir := path.Dir(source)
	if source == "" {
		srcDir = ""
	}
	x := newXMLScanner(rc)
	var rels []relationship
	for {
		ev, err := x.Next()
		if err != nil {
			return nil, xmlErr(err, "relationships part")
		}
		if ev == xmlEOF {
			return rels, nil
		}
		if ev != xmlStart {
			continue
		}
		if x.depth == 1 {
			if x.Space != nsRels || string(x.Local) != "Relationships" {
				return nil, malformed(ThreeMF, "relationships part has the wrong root element")
			}
			continue
		}
		if x.depth != 2 || x.Space != nsRels || string(x.Local) != "Relationship" {
			continue
		}
		if len(rels) >= 10000 {
			return nil, tooLarge(ThreeMF, "more than 10000 relationships in one part")
		}
		target, _ := x.Attr("", "Target")
		typ, _ := x.Attr("", "Type")
		mode, _ := x.Attr("", "TargetMode")
		rel := relationship{typ: string(typ), external: string(mode) == "External"}
		if !rel.external {
			t, ok := resolvePart(srcDir, string(target))
			if !ok {
				return nil, malformed(ThreeMF, "a relationship targets an absolute URL or a name outside the package")
			}
			rel.target = t
		}
		rels = append(rels, rel)
	}
}

// xmlErr wraps a scanner error for a part, keeping limits as ErrTooLarge.
func xmlErr(err error, what string) error {
	var lim *xmlLimit
	var syn *xmlSyntax
	var fe *FormatError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.As(err, &lim):
		return tooLarge(ThreeMF, "%s: %s", what, lim.Error())
	case errors.As(err, &syn):
		return malformed(ThreeMF, "%s is not well-formed XML: %s", what, syn.Error())
	}
	return malformed(ThreeMF, "%s cannot be read", what)
}

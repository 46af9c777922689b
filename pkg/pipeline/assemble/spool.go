package assemble

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// spool holds one output while it is produced: in memory up to a limit,
// then in a temporary file, so a 2 GiB multi-frame object costs disk, not
// memory, and the upload knows its exact size (a single PUT or bounded
// parts, never a part buffer sized for the worst case).
type spool struct {
	pool *sync.Pool
	buf  *bytes.Buffer
	f    *os.File
	dir  string
	max  int
	n    int64
}

// maxPooledBuffer keeps unusually large buffers out of the pool.
const maxPooledBuffer = 8 << 20

func newSpool(pool *sync.Pool, dir string, maxMem int) *spool {
	b := pool.Get().(*bytes.Buffer)
	b.Reset()
	return &spool{pool: pool, buf: b, dir: dir, max: maxMem}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.buf.Len()+len(p) > s.max {
		f, err := os.CreateTemp(s.dir, "printreg-spool-*")
		if err != nil {
			return 0, err
		}
		s.f = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf.Reset()
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.buf.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.n }

// Reader returns a fresh reader over the whole content.
func (s *spool) Reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.n)
	}
	return bytes.NewReader(s.buf.Bytes())
}

// ReaderAt returns random access to the whole content.
func (s *spool) ReaderAt() io.ReaderAt {
	if s.f != nil {
		// The file holds exactly the spooled bytes; handing it over as
		// it is lets the mesh reader map it instead of copying.
		return s.f
	}
	return bytes.NewReader(s.buf.Bytes())
}

// Close drops the content (and the temporary file).
func (s *spool) Close() error {
	var err error
	if s.f != nil {
		name := s.f.Name()
		err = errors.Join(s.f.Close(), os.Remove(name))
		s.f = nil
	}
	if s.buf != nil {
		if s.buf.Cap() <= maxPooledBuffer {
			s.pool.Put(s.buf)
		}
		s.buf = nil
	}
	return err
}

// prefix keeps the first max bytes written to it and discards the rest: the
// raw header, captured while de-identification streams the object, so the
// identifiers are read without a second download.
type prefix struct {
	b   []byte
	max int
}

func (p *prefix) Write(b []byte) (int, error) {
	if room := p.max - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (p *prefix) full() bool { return len(p.b) >= p.max }

// watched records a failure of the underlying reader, so a processing error
// caused by the network (transient) is told apart from one caused by the
// content (permanent).
type watched struct {
	r   io.Reader
	err error
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}

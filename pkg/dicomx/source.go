package dicomx

import (
	"bytes"
	"errors"
	"io"
)

// source is a buffered reader that knows its position and, when the object
// size is known, how many bytes remain — the number every length claim is
// checked against before anything is allocated.
type source struct {
	r        io.Reader
	buf      []byte
	off, end int   // unread window buf[off:end]
	pos      int64 // stream position of buf[off]
	limit    int64 // stream size; -1 when unknown
	err      error // sticky read error
}

func newSource(r io.Reader, size int64, bufSize int) *source {
	if size >= 0 && size < int64(bufSize) {
		bufSize = int(size) + 1 // +1 so a fill sees EOF without a second read
		if bufSize < 256 {
			bufSize = 256
		}
	}
	return &source{r: r, buf: make([]byte, bufSize), limit: size}
}

// fill makes at least n bytes available in the window (n ≤ len(buf)).
func (s *source) fill(n int) error {
	for s.end-s.off < n {
		if s.err != nil {
			return s.err
		}
		if s.off > 0 && s.end+n-(s.end-s.off) > len(s.buf) {
			copy(s.buf, s.buf[s.off:s.end])
			s.end -= s.off
			s.off = 0
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			s.err = err
			if s.end-s.off >= n {
				return nil
			}
			return err
		}
		if m == 0 {
			// A reader that returns 0, nil forever must not spin.
			s.err = io.ErrNoProgress
		}
	}
	return nil
}

// peek returns the next n bytes without consuming them; fewer at end of stream.
func (s *source) peek(n int) []byte {
	_ = s.fill(n)
	if s.end-s.off < n {
		n = s.end - s.off
	}
	return s.buf[s.off : s.off+n]
}

// next consumes n bytes (n ≤ len(buf)); the slice is valid until the next call.
func (s *source) next(n int) ([]byte, error) {
	if err := s.fill(n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b := s.buf[s.off : s.off+n]
	s.off += n
	s.pos += int64(n)
	return b, nil
}

// atEOF reports whether the stream has no more bytes.
func (s *source) atEOF() bool {
	if s.end > s.off {
		return false
	}
	return s.fill(1) != nil
}

// readInto fills p completely.
func (s *source) readInto(p []byte) error {
	n := copy(p, s.buf[s.off:s.end])
	s.off += n
	s.pos += int64(n)
	for n < len(p) {
		if s.err != nil {
			return unexpected(s.err)
		}
		m, err := io.ReadFull(s.r, p[n:])
		n += m
		s.pos += int64(m)
		if err != nil {
			s.err = err
			return unexpected(err)
		}
	}
	return nil
}

// readGrowing reads n bytes when the stream size is unknown (a deflated
// dataset). The caller has checked n against MaxHeldBytes and reserved it,
// so the value is allocated once at its declared length: pages the stream
// never fills are never touched, so a false length costs address space,
// not memory, and a true one is not copied while it grows.
func (s *source) readGrowing(n int64) ([]byte, error) {
	out := make([]byte, n)
	if err := s.readInto(out); err != nil {
		return nil, err
	}
	return out, nil
}

// copyN copies n bytes to w, first from the window, then straight from the
// underlying reader (so a large value never passes through a growing buffer).
func (s *source) copyN(w io.Writer, n int64) (int64, error) {
	var done int64
	if k := int64(s.end - s.off); k > 0 {
		if k > n {
			k = n
		}
		m, err := w.Write(s.buf[s.off : s.off+int(k)])
		s.off += m
		s.pos += int64(m)
		done += int64(m)
		if err != nil {
			return done, err
		}
	}
	if done == n {
		return done, nil
	}
	if s.err != nil {
		return done, unexpected(s.err)
	}
	m, err := io.CopyN(w, s.r, n-done)
	s.pos += m
	done += m
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.err = err
		}
		return done, unexpected(err)
	}
	return done, nil
}

// rest returns a reader of everything not yet consumed (window first).
func (s *source) rest() io.Reader {
	win := append([]byte(nil), s.buf[s.off:s.end]...)
	s.off = s.end
	return io.MultiReader(bytes.NewReader(win), s.r)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

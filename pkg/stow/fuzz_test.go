package stow

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzMultipart posts arbitrary bodies (seeded with real DICOM parts) to
// the handler: it must answer with one of the documented statuses, never
// store more parts than the body holds, and never log the body's text.
func FuzzMultipart(f *testing.F) {
	const boundary = "printreg-fuzz-boundary"
	const marker = "Doe^Jane-MRN-0042"
	seed := func(parts ...[]byte) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
			b.Write(p)
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
		return b.Bytes()
	}
	f.Add(seed([]byte("OK 1.2.3\n"), []byte("FAIL A900 1.2.4\n")))
	f.Add(seed())
	f.Add([]byte("--" + boundary + "\r\nContent-Type: application/dicom\r\n" + marker + "\r\n\r\nOK 1.2\r\n--" + boundary + "--"))
	f.Add([]byte("--" + boundary + "\r\n " + marker + "\r\n\r\nOK 1.2\r\n--" + boundary + "--"))
	f.Add([]byte("--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + boundary))
	f.Add([]byte("--" + boundary + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOK 1=\r\n2\r\n--" + boundary + "--"))
	for _, p := range []string{"../../testdata/dicom/series_pydicom_CT5N_5slices/2062.dcm", "../../testdata/dicom/pydicom/image_dfl.dcm"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(seed(b))
		}
	}
	st := &fakeStorer{}
	logs := &logBuffer{}
	s, err := NewServer(Config{AllowUnauthenticated: true, MaxInstanceBytes: 1 << 16, MaxRequestBytes: 1 << 20, MaxParts: 64}, st, zerolog.New(logs))
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	allowed := map[int]bool{200: true, 202: true, 400: true, 409: true, 413: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/dicomweb/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
		rec := httptest.NewRecorder()
		logs.mu.Lock()
		logs.b.Reset()
		logs.mu.Unlock()
		st.mu.Lock()
		before := len(st.stored)
		st.mu.Unlock()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d", rec.Code)
		}
		st.mu.Lock()
		added := len(st.stored) - before
		st.stored = st.stored[:0]
		st.studies = st.studies[:0]
		st.mu.Unlock()
		if added > bytes.Count(body, []byte(boundary)) {
			t.Fatalf("%d parts stored from a body with fewer boundaries", added)
		}
		if rec.Code == http.StatusOK && added == 0 {
			t.Fatalf("200 without a stored part")
		}
		if bytes.Contains(body, []byte(marker)) && strings.Contains(logs.String(), marker) {
			t.Fatalf("the log holds text of the body:\n%s", logs)
		}
	})
}

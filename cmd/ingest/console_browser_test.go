package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// chromiumPath finds Debian's chromium (or PRINTREG_CHROMIUM). Without
// one the test is skipped, or fails under PRINTREG_REQUIRE_INTEGRATION=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PRINTREG_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(testenv.EnvRequire) == "1" {
		t.Fatal("chromium is not installed (scripts/test-deps.sh installs it: apt-get install chromium)")
	}
	t.Skip("chromium is not installed; set PRINTREG_REQUIRE_INTEGRATION=1 to make this a failure")
	return ""
}

// page is one browser tab on the console, with bounded waits.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	// seen collects every page's HTML and URL, checked for identifiers at
	// the end.
	mu   sync.Mutex
	seen []string
	// jsErrors collects uncaught exceptions of the pages' scripts.
	jsErrors []string
	shots    string
}

// do runs actions with a bound.
func (p *page) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		dctx, dcancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		html, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		p.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, html)
	}
}

// record keeps the current page's HTML and URL.
func (p *page) record() string {
	p.t.Helper()
	html, err := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		p.t.Fatal(err)
	}
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.seen = append(p.seen, "URL "+loc, html)
	p.mu.Unlock()
	return html
}

// location is the current URL, relative to the console.
func (p *page) location() string {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, p.base)
}

// eval evaluates a JavaScript expression.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS waits, with a bound, until a JavaScript expression is true.
func (p *page) waitJS(what, expr string, timeout time.Duration) {
	p.t.Helper()
	p.do(what, timeout+5*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
		return err
	}))
}

// checkLabels: every visible form control has a label (or an ARIA name).
func (p *page) checkLabels(name string) {
	p.t.Helper()
	unlabelled := eval[[]string](p, `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
		.map(el => el.id || el.name || el.outerHTML)`)
	if len(unlabelled) > 0 {
		p.t.Errorf("%s: inputs without a label: %v", name, unlabelled)
	}
	nameless := eval[[]string](p, `Array.from(document.querySelectorAll('button, a[href]'))
		.filter(el => !(el.textContent.trim() || el.getAttribute('aria-label'))).map(el => el.outerHTML)`)
	if len(nameless) > 0 {
		p.t.Errorf("%s: buttons or links without a name: %v", name, nameless)
	}
}

// shot saves a screenshot of the page as it is.
func (p *page) shot(name string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// press sends keys to the focused element (after focusing sel).
func (p *page) press(what string, sel string, keys string) {
	p.t.Helper()
	p.do(what, 30*time.Second, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(keys))
}

// TestConsoleInABrowser drives the web console of the embedded default in
// Chromium, as its users would, mostly from the keyboard: sign in with the
// one-time URL, find a CT's case by its accession number, fill in the lab
// form (refused once, then accepted), upload a model, watch the case
// become registry_ready without reloading, see the model in 3D, re-drive a
// dead-lettered object, and download the export. Every form control has a
// label, and no identifier — the accession searched, the patient's name,
// the StudyInstanceUID, the uploaded file's name — appears in any page,
// URL, log line or audit entry.
//
// With PRINTREG_CONSOLE_SCREENSHOTS=DIR the screenshots are written there
// (docs/console holds them); otherwise to a temporary folder.
func TestConsoleInABrowser(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	env := append(embeddedEnv(dir), "PRINTREG_CONSOLE_LISTEN=127.0.0.1:0", "PRINTREG_RECEIVE_ENABLED=false")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	urlFile := filepath.Join(dir, "console", "signin.url")
	waitFile(t, urlFile)
	signIn, err := os.ReadFile(urlFile)
	if err != nil {
		t.Fatal(err)
	}
	signInURL := strings.TrimSpace(string(signIn))
	base := signInURL[:strings.Index(signInURL, "/signin/")]

	// The CT's own identifiers: none may appear anywhere.
	cts, _ := filepath.Glob("../../testdata/dicom/series_dcmqi_ct-3slice/*.dcm")
	if len(cts) == 0 {
		t.Fatal("test data missing")
	}
	obj := readDICOMHeader(t, cts[0])
	accession := strings.TrimSpace(obj.Dataset.Str(dicomx.TagAccessionNumber))
	patient := strings.TrimSpace(obj.Dataset.Str(dicomx.TagPatientName))
	studyUID := strings.TrimSpace(obj.Dataset.Str(dicomx.TagStudyInstanceUID))
	if accession == "" || patient == "" || studyUID == "" {
		t.Fatal("the CT lacks an accession number, a patient name or a StudyInstanceUID")
	}
	secrets := []string{accession, patient, studyUID, "DOE JOHN", "kidney-of"}
	inbox := filepath.Join(dir, "inbox", accession)
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	for i, f := range cts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inbox, fmt.Sprintf("ct%d.dcm", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A file no worker reads: refused, dead-lettered, shown in the case.
	if err := os.WriteFile(filepath.Join(inbox, "notes.bin"), []byte("neither DICOM nor a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := sitekey.Load(filepath.Join(dir, "site.secret"))
	if err != nil {
		t.Fatal(err)
	}
	caseID := casemodel.CaseID(key, accession)
	model := filepath.Join(t.TempDir(), "DOE JOHN kidney-of.3mf")
	torus, err := os.ReadFile("../../pkg/mesh/testdata/3mf/3mf-samples/core_torus.3mf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, torus, 0o600); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("PRINTREG_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("use-angle", "swiftshader"), chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900))
	defer cancelAlloc()
	p := &page{t: t, base: base, shots: shots}
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			p.mu.Lock()
			p.jsErrors = append(p.jsErrors, msg)
			p.mu.Unlock()
		}
	}))
	defer cancelBrowser()
	p.ctx = bctx
	// The first action starts the browser: no timeout on it.
	if err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	})); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	// Sign in with the one-time URL; it works once.
	p.do("sign in", 30*time.Second, chromedp.Navigate(signInURL), chromedp.WaitVisible(chromedp.CSS("#ref")))
	if loc := p.location(); loc != "/cases" {
		t.Fatalf("after signing in the browser is at %s", loc)
	}
	p.checkLabels("cases")
	// Keyboard: the first Tab reaches the skip link.
	p.do("tab to the skip link", 10*time.Second, chromedp.KeyEvent(kb.Tab))
	if cls := eval[string](p, `document.activeElement.className`); cls != "skip" {
		t.Errorf("the first Tab focuses %q, not the skip link", cls)
	}

	// The case appears in the list once the CT is processed; the list is
	// served as it is, so the page is reloaded until it shows it.
	p.waitJS("the CT's case in the list", `(async () => {
		const r = await fetch('/cases', {credentials: 'same-origin'}); const h = await r.text();
		return h.includes('/cases/`+caseID+`') && h.includes('unsupported');
	})()`, 90*time.Second)
	p.do("reload the list", 30*time.Second, chromedp.Navigate(base+"/cases"), chromedp.WaitVisible(chromedp.CSS("table.cases")))
	p.record()
	p.shot("cases")

	// Search by accession number, from the keyboard: type, then Enter.
	p.do("search", 30*time.Second,
		chromedp.Focus(chromedp.CSS("#ref")), chromedp.SendKeys(chromedp.CSS("#ref"), accession+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#ready")))
	if loc := p.location(); loc != "/cases/"+caseID {
		t.Fatalf("the search led to %s, want /cases/%s", loc, caseID)
	}
	html := p.record()
	if !strings.Contains(html, "Replay dead-letter entry") || !strings.Contains(html, "unsupported") {
		t.Errorf("the case page does not show the rejected object with a replay button")
	}
	p.checkLabels("case")

	// The lab form: first with one effort timer only (refused on the
	// server, every problem linked to its field), then complete.
	p.press("open the lab form", `a[href="/cases/`+caseID+`/lab"]`, kb.Enter)
	p.do("lab form", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#f-object_type")))
	p.checkLabels("lab form")
	fill := []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(chromedp.CSS("#ref"), accession),
		chromedp.SetValue(chromedp.CSS("#f-object_type"), "anatomic_model"),
		chromedp.SetValue(chromedp.CSS("#f-intended_use"), "surgical_planning"),
		chromedp.SetValue(chromedp.CSS("#f-ordering_service"), "urology"),
		chromedp.SendKeys(chromedp.CSS("#f-indications-0-text"), "Renal mass, nephron-sparing surgery planning"),
		chromedp.SendKeys(chromedp.CSS("#f-indications-0-icd10cm"), "C64.1"),
		chromedp.SendKeys(chromedp.CSS("#f-parts-0-region"), "Abdomen"),
		chromedp.SendKeys(chromedp.CSS("#f-parts-0-structure"), "Kidney"),
		chromedp.SetValue(chromedp.CSS("#f-parts-0-laterality"), "left"),
		chromedp.SendKeys(chromedp.CSS("#f-parts-1-region"), "Abdomen"),
		chromedp.SendKeys(chromedp.CSS("#f-parts-1-structure"), "Tumor"),
		chromedp.SendKeys(chromedp.CSS("#f-prints-0-parts"), "1, 2"),
		chromedp.SendKeys(chromedp.CSS("#f-prints-0-printer-label"), "Lab J750"),
		chromedp.SendKeys(chromedp.CSS("#f-prints-0-printer-manufacturer"), "Stratasys"),
		chromedp.SetValue(chromedp.CSS("#f-prints-0-printer-technology"), "material_jetting"),
		chromedp.SendKeys(chromedp.CSS("#f-prints-0-material"), "VeroClear"),
		chromedp.SendKeys(chromedp.CSS("#f-prints-0-copies"), "2"),
		chromedp.SendKeys(chromedp.CSS(`[id="f-effort-consultation-clinician"]`), "30"),
	}
	if n := eval[int](p, `document.querySelectorAll('#sec-parts .group:not([hidden])').length`); n != 1 {
		t.Errorf("a new form shows %d part rows, want 1 (the others behind the Add button)", n)
	}
	// A second part: the "Add a part" button shows the next row and puts
	// the focus in it.
	p.press("add a part", "#sec-parts .add-row", kb.Enter)
	p.do("the second part", 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#f-parts-1-region")))
	if id := eval[string](p, `document.activeElement.id`); id != "f-parts-1-region" {
		t.Errorf("after adding a part the focus is on %q", id)
	}
	p.do("fill the lab form", 60*time.Second, fill...)
	p.press("submit the lab form", "button.primary", kb.Enter)
	p.do("the refusal", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#problems")))
	html = p.record()
	if !strings.Contains(html, `href="#f-effort-consultation-non_clinician"`) || !strings.Contains(html, "all eight timers") {
		t.Errorf("the refused form does not link the missing timers")
	}
	if v := eval[string](p, `document.getElementById('ref').value`); v != "" {
		t.Error("the refused form gives the reference back")
	}
	if v := eval[string](p, `document.getElementById('f-parts-1-structure').value`); v != "Tumor" {
		t.Errorf("the refused form lost a value: %q", v)
	}
	p.do("scroll to the problems", 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`window.scrollTo(0, 0)`)(ctx, tg)
		return err
	}))
	p.shot("lab-form")
	complete := []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.CSS("#ref"), accession)}
	for _, a := range []string{"consultation", "segmentation", "cad", "post_processing"} {
		for _, s := range []string{"clinician", "non_clinician"} {
			if a == "consultation" && s == "clinician" {
				continue
			}
			v := "15"
			if a == "post_processing" && s == "non_clinician" {
				v = "unknown"
			}
			complete = append(complete, chromedp.SendKeys(chromedp.CSS(`[id="f-effort-`+a+`-`+s+`"]`), v))
		}
	}
	p.do("complete the effort", 60*time.Second, complete...)
	p.press("submit again", "button.primary", kb.Enter)
	p.do("saved", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#ready")))
	if loc := p.location(); loc != "/cases/"+caseID {
		t.Fatalf("after saving the browser is at %s", loc)
	}
	if flash := eval[string](p, `document.querySelector('.flash') ? document.querySelector('.flash').textContent : ''`); !strings.Contains(flash, "case.json saved") {
		t.Errorf("no confirmation after saving: %q", flash)
	}
	p.record()

	// Upload the model (its name holds a patient's name: it is not kept).
	p.do("upload", 60*time.Second,
		chromedp.Navigate(base+"/cases/"+caseID+"/lab"), chromedp.WaitVisible(chromedp.CSS("#upload-file")),
		chromedp.SendKeys(chromedp.CSS("#upload-ref"), accession),
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{model}))
	p.press("send the model", `form[action="/upload"] button`, kb.Enter)
	p.do("uploaded", 60*time.Second, chromedp.WaitVisible(chromedp.CSS("#ready")))
	if flash := eval[string](p, `document.querySelector('.flash') ? document.querySelector('.flash').textContent : ''`); !strings.Contains(flash, "Model uploaded") {
		t.Errorf("no confirmation after the upload: %q", flash)
	}

	// The page follows the case: without a reload it becomes registry-ready
	// and shows the model in 3D.
	p.waitJS("registry_ready", `document.querySelector('#ready[data-ready="true"]') !== null`, 120*time.Second)
	p.waitJS("the 3D view", `document.getElementById('viewer-status').textContent.includes('2200 triangles')`, 60*time.Second)
	html = p.record()
	for _, want := range []string{"Kidney", "0559T", "3mf", "Renal mass"} {
		if !strings.Contains(html, want) {
			t.Errorf("the ready case page lacks %q", want)
		}
	}
	p.do("the 3D view", 10*time.Second, chromedp.Focus(chromedp.CSS(`[data-view="left"]`)), chromedp.KeyEvent(kb.Enter),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`document.activeElement.blur(); window.scrollTo(0, 0)`)(ctx, tg)
			return err
		}))
	p.shot("case")

	// The DLQ: re-drive the refused file from the keyboard; it fails again
	// and comes back with a new id.
	p.do("DLQ", 30*time.Second, chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS("table.dlq")))
	p.checkLabels("dlq")
	html = p.record()
	first := regexp.MustCompile(`aria-label="Replay entry (\d+)"`).FindStringSubmatch(html)
	if first == nil {
		t.Fatalf("no DLQ entry to replay")
	}
	p.shot("dlq")
	p.press("replay", `button[aria-label="Replay entry `+first[1]+`"]`, kb.Enter)
	p.do("replayed", 30*time.Second, chromedp.WaitVisible(chromedp.CSS(".flash")))
	if flash := eval[string](p, `document.querySelector('.flash').textContent`); !strings.Contains(flash, "Entry "+first[1]+" re-driven") {
		t.Errorf("after the replay: %q", flash)
	}
	p.waitJS("the entry failing again", `(async () => {
		const h = await (await fetch('/dlq', {credentials: 'same-origin'})).text();
		const ids = [...h.matchAll(/aria-label="Replay entry (\d+)"/g)].map(m => m[1]);
		return ids.length > 0 && !ids.includes('`+first[1]+`');
	})()`, 60*time.Second)
	p.do("DLQ again", 30*time.Second, chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS("table.dlq")))
	p.record()

	// Health, then the export, downloaded.
	p.do("health", 30*time.Second, chromedp.Navigate(base+"/health"), chromedp.WaitVisible(chromedp.CSS("table")))
	html = p.record()
	for _, want := range []string{"nats", "worker", "raw bucket", "deid bucket", "PRINTREG_DLQ"} {
		if !strings.Contains(html, want) {
			t.Errorf("the health page lacks %q", want)
		}
	}
	p.shot("health")
	p.do("export", 30*time.Second, chromedp.Navigate(base+"/export"), chromedp.WaitVisible(chromedp.CSS("#export-csv")))
	p.record()
	p.checkLabels("export")
	p.shot("export")
	p.press("download the CSV", "#export-csv", kb.Enter)
	csvPath := filepath.Join(downloads, "printreg-ready-cases.csv")
	deadline := time.Now().Add(30 * time.Second)
	var csvData []byte
	for {
		if b, err := os.ReadFile(csvPath); err == nil && strings.Count(string(b), "\n") >= 2 {
			csvData = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CSV export never downloaded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(string(csvData)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "case_id,version,studies") || !strings.HasPrefix(lines[1], caseID+",") ||
		!strings.Contains(lines[1], "anatomic_model") || !strings.Contains(lines[1], "0559T x1; 0560T x1") {
		t.Errorf("export:\n%s", csvData)
	}

	// Sign-in page, signed out.
	p.do("sign out", 30*time.Second, chromedp.Focus(chromedp.CSS(".signout button")), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if loc := p.location(); loc != "/signin" {
		t.Errorf("after signing out the browser is at %s", loc)
	}
	p.do("the used link", 30*time.Second, chromedp.Navigate(signInURL), chromedp.WaitVisible(chromedp.CSS(".error")))
	if loc := p.location(); !strings.HasPrefix(loc, "/signin") {
		t.Errorf("a used sign-in link led to %s", loc)
	}
	p.record()
	p.shot("signin")

	cancelBrowser()
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
	if len(p.jsErrors) > 0 {
		t.Errorf("the pages' scripts threw: %v", p.jsErrors)
	}
	audit, err := os.ReadFile(filepath.Join(dir, "console", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"action":"sign_in","method":"one_time_url","outcome":"ok"`, `"action":"search","case_id":"` + caseID + `","outcome":"found"`,
		`"action":"lab_save","case_id":"` + caseID + `","issues":"7","outcome":"invalid"`, `"action":"lab_save","case_id":"` + caseID + `","outcome":"ok"`,
		`"action":"upload","bytes":"`, `"action":"replay","dlq_id":"` + first[1] + `","outcome":"ok"`, `"action":"export"`, `"format":"csv"`, `"action":"sign_out"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("the audit file lacks %s:\n%s", want, audit)
		}
	}
	for _, s := range secrets {
		for i, text := range append(p.seen, cmd.stderr, string(audit)) {
			if strings.Contains(text, s) {
				t.Errorf("an identifier (%q) is in a page, URL, log line or audit entry (#%d):\n%s", s, i, excerpt(text, s))
			}
		}
	}
	// The one-time URL is in the banner, once, and in no log line.
	if n := strings.Count(cmd.stderr, strings.TrimPrefix(signInURL, base+"/signin/once?token=")); n != 1 {
		t.Errorf("the one-time sign-in token is in the output %d times, want once (the banner)", n)
	}
	if !strings.Contains(cmd.stderr, "Web console: "+base) {
		t.Errorf("the banner does not name the console:\n%s", cmd.stderr)
	}
}

func excerpt(text, s string) string {
	i := strings.Index(text, s)
	if i < 0 {
		return ""
	}
	return text[max(0, i-200):min(len(text), i+200)]
}

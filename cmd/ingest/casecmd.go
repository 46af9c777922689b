package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

const caseHelp = `usage: ingest case REF [--summary] [flags]

Prints the latest snapshot of the case of REF as JSON (data.case of the
last event on the case's subject). REF is an accession number or a
StudyInstanceUID, exactly as the hospital has it: letter case matters,
DICOM padding and surrounding spaces do not. It is hashed here with the
site secret into the case id, and never logged or printed. REF - reads the
reference from the first line of standard input, which keeps it out of the
shell's history and the machine's process list.

A StudyInstanceUID finds the case of its study's accession; a case folded
into another (a lab folder named by StudyInstanceUID before the study came)
is followed to that case, with a note on stderr.

--summary prints a few lines instead: status, counts, whether the case is
registry_ready or what is missing, conflicts and rejections.

Exit status: 0 found, 1 no such case (or a failure), 2 usage error.

Flags:
`

func cmdCase(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("case", flag.ContinueOnError)
	c.register(fs)
	summary := fs.Bool("summary", false, "print a few human-readable lines instead of the JSON snapshot")
	pos, code, ok := parseArgs(fs, args, stderr, caseHelp, 1, 1)
	if !ok {
		return code
	}
	a, code := openExisting(ctx, c, environ, stderr, true)
	if a == nil {
		return code
	}
	defer a.close()
	r, code, ok := a.findCase(ctx, "case", pos[0], stderr)
	if !ok {
		return code
	}
	if *summary {
		if err := printSummary(stdout, r.last); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	var out bytes.Buffer
	if err := json.Indent(&out, r.last.Data.Case, "", "  "); err != nil {
		return fail(stderr, fmt.Errorf("case %s: the last event's snapshot is not JSON: %w", r.id, err))
	}
	out.WriteByte('\n')
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// openExisting opens the data folder and NATS of an ingest that already
// runs, for the operator commands, which create nothing. A nil app comes
// with the exit code to return.
func openExisting(ctx context.Context, c common, environ []string, stderr *os.File, needKey bool) (*app, int) {
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return nil, fail(stderr, err)
	}
	if err := a.useExisting(ctx, needKey); err != nil {
		a.close()
		return nil, fail(stderr, err)
	}
	return a, exitOK
}

// findCase resolves the case of a reference argument (an accession number
// or StudyInstanceUID; "-" reads it from standard input) to its latest
// event, saying on stderr, as command cmd, how it was found. ok is false
// with the exit code to return when there is no such case.
func (a *app) findCase(ctx context.Context, cmd, arg string, stderr *os.File) (r resolved, code int, ok bool) {
	ref, err := readRef(arg)
	if err != nil {
		return r, fail(stderr, err), false
	}
	id := casemodel.CaseID(a.key, ref)
	if id == "" {
		fmt.Fprintf(stderr, "ingest %s: the reference is empty\n", cmd)
		return r, exitUsage, false
	}
	if r, err = a.resolveCase(ctx, id); err != nil {
		return r, fail(stderr, err), false
	}
	for _, n := range r.notes {
		fmt.Fprintf(stderr, "ingest %s: %s\n", cmd, n)
	}
	if r.last == nil {
		fmt.Fprint(stderr, noCaseHint)
		return r, exitFail, false
	}
	return r, exitOK, true
}

// stdin is where a reference given as "-" is read from.
var stdin io.Reader = os.Stdin

// readRef returns ref, or for "-" the first line of standard input.
func readRef(ref string) (string, error) {
	if ref != "-" {
		return ref, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the reference from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// noCaseHint answers a reference that names no case, without repeating it.
const noCaseHint = `ingest case: no case for this reference.
  The reference is case-sensitive (ACC123 and acc123 are different cases); DICOM padding
  and spaces around it are ignored. Check that it is the accession number (or, without one,
  the StudyInstanceUID) the objects were filed under, that they have been processed
  (ingest tail --from-start), and that this is the site's data folder or configuration:
  another site secret gives other case ids.
`

// lastEvent is the part of a case event the case command reads.
type lastEvent struct {
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Time    string `json:"time"`
	Data    struct {
		Case json.RawMessage `json:"case"`
	} `json:"data"`
}

// resolved is where a case id leads: the case to show (after following an
// alias and merges), its last event (nil when it has none) and notes for
// a person.
type resolved struct {
	id    string
	last  *lastEvent
	notes []string
}

// resolveCase follows a case id to the case that holds its facts: through
// the alias a study records for its StudyInstanceUID, then through
// merged_into of retired cases. A case with no event yet is not an error
// (last is nil).
func (a *app) resolveCase(ctx context.Context, id string) (resolved, error) {
	l, err := assemble.FindCase(ctx, a.js, a.topo, a.buckets.Aliases, id)
	r := resolved{id: l.ID}
	// The cases passed through, in order: the alias's target first.
	path := append(slices.Clone(l.Merged), l.ID)
	if l.Alias {
		r.notes = append(r.notes, fmt.Sprintf("the reference is a study's other reference (StudyInstanceUID): its case is %s", path[0]))
	}
	for i := 1; i < len(path); i++ {
		r.notes = append(r.notes, fmt.Sprintf("case %s was merged into case %s; showing that case", path[i-1], path[i]))
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return r, fmt.Errorf("stream %s does not exist: no case event was ever published here (run `ingest setup`, or `ingest run`)", a.topo.RegistryStream)
	}
	if err != nil {
		return r, err
	}
	if l.Last != nil {
		var ev lastEvent
		if err := json.Unmarshal(l.Last, &ev); err != nil {
			return r, fmt.Errorf("case %s: the last event is not a case event", l.ID)
		}
		r.last = &ev
	}
	return r, nil
}

// printSummary writes the case in a few lines a person reads at a glance.
func printSummary(w io.Writer, ev *lastEvent) error {
	var s registry.Snapshot
	if err := json.Unmarshal(ev.Data.Case, &s); err != nil {
		return fmt.Errorf("the last event's snapshot cannot be read: %w", err)
	}
	// Conflicts between the case's objects (when the snapshot lists them)
	// are read by name, so that this command shows them whatever the
	// snapshot's other members are.
	var extra struct {
		Conflicts []struct {
			Kind   string `json:"kind"`
			Detail string `json:"detail"`
		} `json:"conflicts"`
	}
	_ = json.Unmarshal(ev.Data.Case, &extra)

	var b strings.Builder
	fmt.Fprintf(&b, "case %s  version %d  last event %s at %s\n", s.CaseID, s.Version, ev.Type, ev.Time)
	fmt.Fprintf(&b, "status: %s\n", caseStatus(s))
	c := s.Counts
	fmt.Fprintf(&b, "counts: %s, %s, %s; %s; %s; %s; %s rejected\n",
		plural(c.Studies, "study", "studies"), plural(c.Series, "series", "series"), plural(c.Instances, "instance", "instances"),
		plural(c.Models, "model", "models"), plural(c.Segmentations, "segmentation", "segmentations"),
		plural(c.Sidecars, "case.json", "case.json files"), plural(c.ObjectsRejected, "object", "objects"))
	if s.RegistryReady {
		fmt.Fprintln(&b, "registry_ready: yes")
	} else {
		fmt.Fprintf(&b, "registry_ready: no; missing: %s\n", orNone(s.Missing))
	}
	var conflicts []string
	if c.Sidecars > 1 {
		conflicts = append(conflicts, fmt.Sprintf("%d case.json files (the latest revision is used)", c.Sidecars))
	}
	for _, cf := range extra.Conflicts {
		what := cf.Kind
		if cf.Detail != "" {
			what += " (" + oneLineText(cf.Detail) + ")"
		}
		conflicts = append(conflicts, what)
	}
	fmt.Fprintf(&b, "conflicts: %s\n", orNone(conflicts))
	reasons := map[string]int{}
	for _, r := range s.Rejected {
		reasons[r.Reason]++
	}
	fmt.Fprintf(&b, "rejected: %s\n", orNone(countList(reasons)))
	var withheld []string
	for _, w := range s.Withheld {
		withheld = append(withheld, w.Field+" ("+w.Rule+")")
	}
	fmt.Fprintf(&b, "withheld: %s\n", orNone(withheld))
	_, err := io.WriteString(w, b.String())
	return err
}

// caseStatus says where the case stands: merged away, waiting for imaging,
// or its studies' completeness.
func caseStatus(s registry.Snapshot) string {
	if s.MergedInto != "" {
		return "merged into case " + s.MergedInto + " (this case is final; see that one)"
	}
	if len(s.Studies) == 0 {
		if s.Counts.Models+s.Counts.Sidecars > 0 {
			return "waiting for imaging (lab files only)"
		}
		return "no imaging yet"
	}
	if len(s.Studies) == 1 {
		return "1 study, " + s.Studies[0].Status
	}
	st := map[string]int{}
	for _, study := range s.Studies {
		st[study.Status]++
	}
	return fmt.Sprintf("%d studies: %s", len(s.Studies), strings.Join(countList(st), ", "))
}

// countList renders counts by name, largest first: "stable ×2, receiving ×1".
func countList(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return out
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/s3event"
)

const dlqHelp = `usage: ingest dlq list [--reason R] [--json] [--show-key] [flags]
       ingest dlq show ID [--show-key] [flags]

Reads the dead-letter stream (work items that failed permanently) without
changing it; 'ingest replay' re-drives entries.

  list   one line per entry: its id (the DLQ sequence), when it failed, the
         reason code, deliveries, the object's hashed id and the error in
         words; --json prints one JSON object per line instead
  show   one entry in full, as JSON

The object key (the raw object's name in the bucket, which may hold an
accession number or a patient's name) is shown only with --show-key.

Flags:
`

func cmdDLQ(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqHelp)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, dlqHelp)
		return exitOK
	case "list":
		return cmdDLQList(ctx, args[1:], environ, stdout, stderr)
	case "show":
		return cmdDLQShow(ctx, args[1:], environ, stdout, stderr)
	}
	fmt.Fprintf(stderr, "ingest dlq: unknown subcommand (use list or show)\n\n%s", dlqHelp)
	return exitUsage
}

// dlqEntry is one DLQ entry as shown to an operator. Every member but Key
// and Keys is free of identifiers (hashed ids, reason codes, error texts
// the worker wrote without identifiers).
type dlqEntry struct {
	ID         uint64 `json:"id"`
	Stored     string `json:"stored"`
	FailedAt   string `json:"failed_at,omitempty"`
	Reason     string `json:"reason"`
	Detail     string `json:"detail,omitempty"`
	Object     string `json:"object,omitempty"`
	Version    string `json:"version,omitempty"`
	Deliveries uint64 `json:"deliveries,omitempty"`
	WorkSeq    uint64 `json:"work_seq,omitempty"`
	Subject    string `json:"subject"`
	// Raw: the body is the original work message (undecodable, or from a
	// max-deliveries advisory) rather than a work item for one object.
	Raw bool `json:"raw,omitempty"`
	// In full (show) only: the object's reference without its key.
	Bucket    string `json:"bucket,omitempty"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	Size      int64  `json:"size,omitempty"`
	BodyBytes int    `json:"body_bytes,omitempty"`
	// Only with --show-key: the raw object key, or the keys a raw
	// notification names.
	Key  string   `json:"key,omitempty"`
	Keys []string `json:"keys,omitempty"`
}

// dlqWorkItem mirrors the work item a DLQ entry's body holds.
type dlqWorkItem struct {
	V      int                `json:"v"`
	Object pipeline.ObjectRef `json:"object"`
}

func newDLQEntry(seq uint64, subject string, stored time.Time, h nats.Header, body []byte, full, showKey bool) dlqEntry {
	e := dlqEntry{
		ID: seq, Stored: stored.UTC().Format(time.RFC3339), Subject: subject,
		Reason: h.Get(pipeline.HeaderReason), Detail: h.Get(pipeline.HeaderError),
		Object: h.Get(pipeline.HeaderObject), Version: h.Get(pipeline.HeaderVersion),
		FailedAt: h.Get(pipeline.HeaderFailedAt), Raw: h.Get(pipeline.HeaderRaw) != "",
	}
	e.Deliveries, _ = strconv.ParseUint(h.Get(pipeline.HeaderDeliveries), 10, 64)
	e.WorkSeq, _ = strconv.ParseUint(h.Get(pipeline.HeaderWorkSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, e.FailedAt); err == nil {
		e.FailedAt = t.UTC().Format(time.RFC3339)
	}
	if !full && !showKey {
		return e
	}
	var it dlqWorkItem
	isItem := json.Unmarshal(body, &it) == nil && it.V == 1 && it.Object.Key != ""
	if full {
		e.BodyBytes = len(body)
		if isItem {
			r := it.Object
			e.Bucket, e.ETag, e.VersionID, e.Size = r.Bucket, r.ETag, r.VersionID, r.Size
		}
	}
	if showKey {
		switch {
		case isItem:
			e.Key = it.Object.Key
		case s3event.IsNotification(body):
			if recs, err := s3event.Parse(body); err == nil {
				for _, r := range recs {
					e.Keys = append(e.Keys, r.Bucket+"/"+r.Key)
				}
			}
		}
	}
	return e
}

func cmdDLQList(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
	c.register(fs)
	reason := fs.String("reason", "", "list only entries with this reason code (e.g. unsupported, malformed)")
	asJSON := fs.Bool("json", false, "one JSON object per entry and line")
	showKey := fs.Bool("show-key", false, "add the raw object key (it may hold identifiers: keep the output private)")
	if _, code, ok := parseArgs(fs, args, stderr, dlqHelp, 0, 0); !ok {
		return code
	}
	if *reason != "" && !pipeline.ValidReason(*reason) {
		fmt.Fprintln(stderr, "ingest dlq list: --reason takes a reason code (lower-case letters, digits and _), e.g. unsupported")
		return exitUsage
	}
	a, code := openExisting(ctx, c, environ, stderr, false)
	if a == nil {
		return code
	}
	defer a.close()
	entries, err := a.dlqEntries(ctx, *reason, *showKey)
	if err != nil {
		return fail(stderr, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return fail(stderr, err)
			}
		}
		return exitOK
	}
	if len(entries) == 0 {
		fmt.Fprintln(stderr, "ingest dlq list: no entries")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	head := "ID\tFAILED_AT\tREASON\tDELIVERIES\tOBJECT\tDETAIL"
	if *showKey {
		head += "\tKEY"
	}
	fmt.Fprintln(tw, head)
	for _, e := range entries {
		when := e.FailedAt
		if when == "" {
			when = e.Stored
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", e.ID, when, e.Reason, dash(e.Deliveries), orDash(e.Object), orDash(oneLineText(e.Detail)))
		if *showKey {
			k := e.Key
			if k == "" {
				k = strings.Join(e.Keys, " ")
			}
			line += "\t" + orDash(k)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func cmdDLQShow(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("dlq show", flag.ContinueOnError)
	c.register(fs)
	showKey := fs.Bool("show-key", false, "add the raw object key (it may hold identifiers: keep the output private)")
	pos, code, ok := parseArgs(fs, args, stderr, dlqHelp, 1, 1)
	if !ok {
		return code
	}
	seq, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil || seq == 0 {
		fmt.Fprintln(stderr, "ingest dlq show: ID is an entry's id as 'ingest dlq list' prints it (a positive number)")
		return exitUsage
	}
	a, code := openExisting(ctx, c, environ, stderr, false)
	if a == nil {
		return code
	}
	defer a.close()
	stream, err := a.dlqStream(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		fmt.Fprintf(stderr, "ingest dlq show: no entry %d in %s (replayed, expired, or never there: see 'ingest dlq list')\n", seq, a.topo.DLQStream)
		return exitFail
	}
	if err != nil {
		return fail(stderr, fmt.Errorf("stream %s: %w", a.topo.DLQStream, err))
	}
	e := newDLQEntry(msg.Sequence, msg.Subject, msg.Time, msg.Header, msg.Data, true, *showKey)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func (a *app) dlqStream(ctx context.Context) (jetstream.Stream, error) {
	stream, err := a.js.Stream(ctx, a.topo.DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s does not exist: nothing was ever dead-lettered here (run `ingest setup`, or `ingest run`)", a.topo.DLQStream)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", a.topo.DLQStream, err)
	}
	return stream, nil
}

// dlqEntries reads the DLQ stream's entries (with reason, only those), in
// order, up to the last one stored when it started.
func (a *app) dlqEntries(ctx context.Context, reason string, showKey bool) ([]dlqEntry, error) {
	if _, err := a.dlqStream(ctx); err != nil {
		return nil, err
	}
	var out []dlqEntry
	err := pipeline.EachDLQ(ctx, a.js, a.topo, reason, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		out = append(out, newDLQEntry(meta.Sequence.Stream, msg.Subject(), meta.Timestamp, msg.Headers(), msg.Data(), false, showKey))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", a.topo.DLQStream, err)
	}
	return out, nil
}

func dash(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLineText keeps a table row on one line.
func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

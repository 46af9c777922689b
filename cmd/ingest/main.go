// Command ingest is printreg's worker daemon and its operator commands:
// objects landing in the raw bucket become de-identified outputs and
// registry case events on NATS JetStream.
//
//	ingest run              work until SIGTERM (no configuration: embedded default)
//	ingest receive          run only the PACS receiver (C-STORE, STOW-RS) into the raw bucket
//	ingest setup            create streams, KV buckets, consumer, bucket notification
//	ingest scan             enqueue unprocessed objects (backfill, lost notifications)
//	ingest tail             print case events as JSON lines
//	ingest case REF         print the case of an accession number or StudyInstanceUID
//	ingest dlq list|show    read the dead-letter stream
//	ingest replay           re-drive dead-lettered work items
//	ingest validate FILE    check a lab's case.json offline
//	ingest config print     print the effective configuration, secrets redacted
//	ingest version
//
// Exit status: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/printreg/printreg/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: ingest <command> [flags]

Commands:
  run            process objects until SIGTERM; with no configuration, runs the
                 embedded default (in-process NATS, ./printreg-data/inbox as the
                 raw bucket); with receive.enabled, the PACS receiver too
  receive        run only the PACS receiver (DICOM C-STORE, DICOMweb STOW-RS),
                 writing received instances into the raw bucket
  setup          create or update the JetStream streams, KV buckets and the shared
                 consumer; create S3 buckets and the raw bucket's notification
  scan           enqueue objects of the raw bucket that were not processed
  tail           print case events as JSON lines (--ref REF: one case)
  case REF       print the case of an accession number or StudyInstanceUID
                 (its latest snapshot as JSON, or --summary)
  dlq list       list dead-lettered work items (reason, error, hashed object)
  dlq show ID    print one dead-lettered work item in full
  resolve REF    record a decision about a study of a case (--exclude, --accept,
                 --reset) to resolve a conflict it lists
  replay         re-drive dead-lettered work items to the work stream
  validate FILE  check a lab's case.json offline, by the workers' rules
  config print   print the effective configuration with secrets redacted
  version        print the version

Run 'ingest <command> --help' for a command's flags. The configuration file
(--config, or PRINTREG_CONFIG) is documented in config/ingest.example.yaml;
every key can be overridden with PRINTREG_<SECTION>_<KEY> environment
variables. Secrets come only from files or the environment.

Only run (and setup) create the embedded default's data folder, site secret
and NATS server; scan, replay, tail, case and dlq use the ones ingest run
made (./printreg-data, or PRINTREG_DATA_DIR) and fail when there are none.
`

// exit codes
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// common holds the flags every command takes.
type common struct {
	config    string
	logLevel  string
	logFormat string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML configuration file (default: $PRINTREG_CONFIG, else the embedded default)")
	fs.StringVar(&c.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: json, console or auto (overrides log.format)")
}

func run(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "ingest", cli.Version)
		return exitOK
	case "run":
		return cmdRun(ctx, rest, environ, stdout, stderr)
	case "receive":
		return cmdReceive(ctx, rest, environ, stdout, stderr)
	case "setup":
		return cmdSetup(ctx, rest, environ, stdout, stderr)
	case "scan":
		return cmdScan(ctx, rest, environ, stdout, stderr)
	case "tail":
		return cmdTail(ctx, rest, environ, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, rest, environ, stdout, stderr)
	case "case":
		return cmdCase(ctx, rest, environ, stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, rest, environ, stdout, stderr)
	case "resolve":
		return cmdResolve(ctx, rest, environ, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "print" {
			fmt.Fprintln(stderr, "ingest config: the only subcommand is 'print'")
			return exitUsage
		}
		return cmdConfigPrint(rest[1:], environ, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "ingest: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// parse parses a command's flags; ok is false with the exit code to return.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer, help string) (int, bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ingest %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

func cmdConfigPrint(args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("config print", flag.ContinueOnError)
	c.register(fs)
	if code, ok := parse(fs, args, stderr, "usage: ingest config print [--config FILE]\n\nPrints the effective configuration (file, then environment overrides, then defaults) with secrets redacted.\n\nFlags:\n"); !ok {
		return code
	}
	l, err := loadConfig(c.config, environ)
	if err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return exitFail
	}
	for _, w := range l.exposureWarnings(l.Receive.Enabled) {
		fmt.Fprintf(stdout, "# WARNING: %s\n", w)
	}
	if err := printRedacted(stdout, l, environ); err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return exitFail
	}
	return exitOK
}

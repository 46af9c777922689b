package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

const resolveHelp = `usage: ingest resolve REF --study UID (--exclude | --accept | --reset) [flags]

Records a decision about one study of the case of REF, to resolve a
conflict the case lists (ingest case REF --summary):

  --exclude  the study does not belong to the case: it leaves the snapshot
             with its segmentations and Encapsulated models
  --accept   the study belongs to the case although its patient identity
             differs (two record numbers of one patient, say)
  --reset    take back the earlier decision about the study

UID is the study's remapped StudyInstanceUID (2.25.…) as the case's events
list it (conflicts[].groups[].study_uids). REF is read as by ingest case (-
reads it from standard input). The case's next event, change kind
study_resolution, carries the decision in resolutions.

Exit status: 0 recorded (or already held), 1 failure, 2 usage error.

Flags:
`

func cmdResolve(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	c.register(fs)
	study := fs.String("study", "", "the study's remapped StudyInstanceUID (2.25.…), as the case lists it")
	exclude := fs.Bool("exclude", false, "the study does not belong to the case")
	accept := fs.Bool("accept", false, "the study belongs to the case although its patient identity differs")
	reset := fs.Bool("reset", false, "take back the earlier decision about the study")
	pos, code, ok := parseArgs(fs, args, stderr, resolveHelp, 1, 1)
	if !ok {
		return code
	}
	action, n := "", 0
	for _, x := range []struct {
		on     bool
		action string
	}{{*exclude, registry.ResolveExclude}, {*accept, registry.ResolveAccept}, {*reset, registry.ResolveReset}} {
		if x.on {
			action, n = x.action, n+1
		}
	}
	if n != 1 || !strings.HasPrefix(*study, "2.25.") {
		fmt.Fprintln(stderr, "ingest resolve: give --study 2.25.… and one of --exclude, --accept, --reset")
		return exitUsage
	}
	a, code := openExisting(ctx, c, environ, stderr, true)
	if a == nil {
		return code
	}
	defer a.close()
	r, code, ok := a.findCase(ctx, "resolve", pos[0], stderr)
	if !ok {
		return code
	}
	reg, err := casemodel.New(a.cfg.Registry, a.key)
	if err != nil {
		return fail(stderr, err)
	}
	cs, err := pipeline.OpenCaseStore(ctx, a.js, a.topo, nil, a.log)
	if err != nil {
		return fail(stderr, err)
	}
	changed, err := assemble.ResolveStudy(ctx, cs, reg, r.id, casemodel.ResolutionFact{StudyUID: *study, Action: action})
	if err != nil {
		return fail(stderr, err)
	}
	if changed {
		fmt.Fprintf(stdout, "case %s: study %s: %s recorded\n", r.id, *study, action)
	} else {
		fmt.Fprintf(stdout, "case %s: study %s: %s was already recorded (or a later decision is)\n", r.id, *study, action)
	}
	return exitOK
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/printreg/printreg/pkg/registry/casemodel"
)

const validateHelp = `usage: ingest validate FILE... [flags]

Checks a lab's case.json (or case.jsonc) offline, by the rules the workers
apply (casemodel.ParseSidecar): the JSON, every field and value, and the
screen for identifiers in free text (e-mail addresses, telephone numbers,
long numbers, dates, DICOM names, identifier labels). Comments (// and /* */)
are accepted. Each problem is printed as FILE:LINE:COLUMN: field: problem
(rule), with the schema's nearest value when a value is misspelt; a value
is never repeated. FILE - reads standard input.

The workers also compare the free text with the case's own identifiers once
its imaging is known; text that matches is withheld from the registry, not
refused, so a file valid here can still have fields withheld.

Exit status: 0 when every file is valid, 1 when one is not (or cannot be
read), 2 usage error.

Flags:
`

func cmdValidate(args []string, stdout io.Writer, stderr *os.File) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	files, code, ok := parseArgs(fs, args, stderr, validateHelp, 1, -1)
	if !ok {
		return code
	}
	bad := false
	for _, f := range files {
		if !validateFile(f, stdout, stderr) {
			bad = true
		}
	}
	if bad {
		return exitFail
	}
	return exitOK
}

// validateFile checks one file and reports on it; it returns whether the
// file is valid.
func validateFile(name string, stdout io.Writer, stderr io.Writer) bool {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, casemodel.MaxSidecarBytes+1))
		name = "(stdin)"
	} else {
		b, err = readSidecarFile(name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ingest validate: %s: %v\n", name, err)
		return false
	}
	_, perr := casemodel.ParseSidecar(b)
	var se *casemodel.SidecarError
	switch {
	case perr == nil:
		fmt.Fprintf(stdout, "%s: valid\n", name)
	case errors.As(perr, &se):
		for _, is := range se.Issues {
			where := name
			if is.Line > 0 {
				where = fmt.Sprintf("%s:%d:%d", name, is.Line, is.Column)
			}
			fmt.Fprintf(stdout, "%s: %s\n", where, is)
		}
	default:
		fmt.Fprintf(stdout, "%s: %v\n", name, perr)
	}
	if name != "(stdin)" {
		if base := strings.ToLower(filepath.Base(name)); base != "case.json" && base != "case.jsonc" {
			fmt.Fprintf(stderr, "ingest validate: note: the workers read a lab file only under the name case.json (or case.jsonc), in the case's folder: <case reference>/case.json\n")
		}
	}
	return perr == nil
}

// readSidecarFile reads a file up to one byte over the size limit (so the
// parser can say it is too large) and says plainly why it cannot.
func readSidecarFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, errors.New("does not exist")
	case errors.Is(err, os.ErrPermission):
		return nil, errors.New("permission denied")
	case err != nil:
		return nil, unwrapPath(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, errors.New("is a folder, not a file")
	}
	b, err := io.ReadAll(io.LimitReader(f, casemodel.MaxSidecarBytes+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	return b, nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

package testenv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// DeflateBomb writes a small Part 10 object in the Deflated Explicit VR
// Little Endian transfer syntax whose Content Sequence holds items items,
// each with one Text Value of valueBytes bytes: each value is under the
// reader's per-value limit, their sum far over any memory a process has.
// 8 items of 200 MiB deflate to about 1.6 MB.
func DeflateBomb(w io.Writer, items int, valueBytes int64) error {
	dw := dicomx.NewWriter(w, dicomx.SyntaxFor(dicomx.DeflatedExplicitVRLittleEndian))
	meta := &dicomx.Dataset{Elements: []*dicomx.Element{
		dicomx.NewBytes(0x00020001, dicomx.VROB, []byte{0, 1}),
		dicomx.NewText(0x00020002, dicomx.VRUI, "1.2.840.10008.5.1.4.1.1.88.22"),
		dicomx.NewText(0x00020003, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.66"),
		dicomx.NewText(0x00020010, dicomx.VRUI, dicomx.DeflatedExplicitVRLittleEndian),
	}}
	if err := dw.WriteFileHeader(nil, meta); err != nil {
		return err
	}
	for _, e := range []*dicomx.Element{
		dicomx.NewText(dicomx.TagSOPClassUID, dicomx.VRUI, "1.2.840.10008.5.1.4.1.1.88.22"),
		dicomx.NewText(dicomx.TagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.66"),
		dicomx.NewText(dicomx.TagAccessionNumber, dicomx.VRSH, "HOSTILE1"),
		dicomx.NewText(dicomx.TagModality, dicomx.VRCS, "SR"),
		dicomx.NewText(dicomx.TagPatientName, dicomx.VRPN, "BOMB^DEFLATE"),
		dicomx.NewText(dicomx.TagPatientID, dicomx.VRLO, "BOMB1"),
		dicomx.NewText(dicomx.TagStudyInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.67"),
		dicomx.NewText(dicomx.TagSeriesInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.68"),
	} {
		if err := dw.WriteElement(e); err != nil {
			return err
		}
	}
	raw := bufio.NewWriterSize(dw.Raw(), 1<<20)
	le := binary.LittleEndian
	var h []byte
	// (0040,A730) Content Sequence, SQ, undefined length.
	h = le.AppendUint16(h, 0x0040)
	h = le.AppendUint16(h, 0xA730)
	h = append(h, 'S', 'Q', 0, 0)
	h = le.AppendUint32(h, 0xFFFFFFFF)
	raw.Write(h)
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for range items {
		h = h[:0]
		h = le.AppendUint16(h, 0xFFFE) // item, undefined length
		h = le.AppendUint16(h, 0xE000)
		h = le.AppendUint32(h, 0xFFFFFFFF)
		h = le.AppendUint16(h, 0x0040) // (0040,A160) Text Value, UT
		h = le.AppendUint16(h, 0xA160)
		h = append(h, 'U', 'T', 0, 0)
		h = le.AppendUint32(h, uint32(valueBytes))
		raw.Write(h)
		for left := valueBytes; left > 0; left -= int64(len(chunk)) {
			raw.Write(chunk[:min(left, int64(len(chunk)))])
		}
		h = h[:0]
		h = le.AppendUint16(h, 0xFFFE) // item delimiter
		h = le.AppendUint16(h, 0xE00D)
		h = le.AppendUint32(h, 0)
		raw.Write(h)
	}
	h = h[:0]
	h = le.AppendUint16(h, 0xFFFE) // sequence delimiter
	h = le.AppendUint16(h, 0xE0DD)
	h = le.AppendUint32(h, 0)
	raw.Write(h)
	if err := raw.Flush(); err != nil {
		return err
	}
	return dw.Close()
}

// WriteDeflateBomb writes DeflateBomb(items, valueBytes) to a file in dir,
// named name (default deflate-bomb.dcm). Under the race detector, which
// makes compressing gigabytes take minutes, a child built without it
// writes the file (the package's TestMain must call MainChild).
func WriteDeflateBomb(t testing.TB, dir string, items int, valueBytes int64, name ...string) string {
	t.Helper()
	p := filepath.Join(dir, "deflate-bomb.dcm")
	if len(name) > 0 {
		p = filepath.Join(dir, name[0])
	}
	if RaceBuild {
		if code, out, _ := RunChild(t, childDeflateBomb, p, strconv.Itoa(items), strconv.FormatInt(valueBytes, 10)); code != 0 {
			t.Fatalf("writing the deflate bomb: exit %d: %s", code, out)
		}
		return p
	}
	if err := writeDeflateBomb(p, items, valueBytes); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeDeflateBomb(p string, items int, valueBytes int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := DeflateBomb(f, items, valueBytes); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const childDeflateBomb = "testenv-deflate-bomb"

// MainChild, called first in a package's TestMain, runs the child command
// this process was started for (see RunChild) and exits; it returns at once
// in an ordinary test process. cmds are the package's own commands, by
// name, given the arguments after "--".
func MainChild(cmds map[string]func(args []string) int) {
	name := os.Getenv(ChildEnv)
	if name == "" {
		return
	}
	args := ChildArgs()
	if name == childDeflateBomb {
		items, _ := strconv.Atoi(args[1])
		size, _ := strconv.ParseInt(args[2], 10, 64)
		if err := writeDeflateBomb(args[0], items, size); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if f, ok := cmds[name]; ok {
		os.Exit(f(args))
	}
	fmt.Fprintf(os.Stderr, "unknown child command %q\n", name)
	os.Exit(2)
}

// PeakRSS is a finished child process's peak resident set in bytes.
func PeakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // kilobytes on Linux
	}
	return -1
}

// ChildEnv names the environment variable a test binary re-executed as a
// child reads to know which command to run (see RunChild).
const ChildEnv = "PRINTREG_TEST_CHILD"

var (
	noRaceOnce sync.Once
	noRaceBin  string
	noRaceErr  error
)

// NoRaceTestBinary returns this package's test binary built without the
// race detector: the detector's shadow memory (and its slowness) would
// swamp a peak-memory measurement, and `make test` runs with -race. It is
// os.Args[0] itself when this binary is not race-built; otherwise it is
// built once per test process with `go test -c` in the package's folder
// (the test's working directory).
func NoRaceTestBinary(t testing.TB) string {
	t.Helper()
	if !RaceBuild {
		return os.Args[0]
	}
	noRaceOnce.Do(func() {
		dir, err := os.MkdirTemp("", "printreg-norace-")
		if err != nil {
			noRaceErr = err
			return
		}
		noRaceBin = filepath.Join(dir, "child.test")
		out, err := exec.Command("go", "test", "-c", "-o", noRaceBin, ".").CombinedOutput()
		if err != nil {
			noRaceErr = fmt.Errorf("go test -c: %v\n%s", err, out)
		}
	})
	if noRaceErr != nil {
		t.Fatal(noRaceErr)
	}
	return noRaceBin
}

// RunChild runs this package's test binary (built without the race
// detector, see NoRaceTestBinary) with ChildEnv=name and args after "--",
// so that the package's TestMain can run a command in a process of its own
// (its peak memory measured alone). It returns the exit code, the combined
// output and the child's peak RSS.
func RunChild(t testing.TB, name string, args ...string) (code int, out []byte, peakRSS int64) {
	t.Helper()
	cmd := exec.Command(NoRaceTestBinary(t), append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), ChildEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("child %s: %v", name, err)
	}
	return cmd.ProcessState.ExitCode(), out, PeakRSS(cmd.ProcessState)
}

// StartChild starts this package's test binary (built without the race
// detector) as a process with ChildEnv=name, env added to this process's
// environment and args after "--": a command of the package run alone, for
// volume and memory tests. It is stopped on test cleanup.
func StartChild(t testing.TB, name string, env []string, args ...string) *Process {
	t.Helper()
	return StartProcess(t, ProcessOptions{Name: name, Bin: NoRaceTestBinary(t),
		Args: append([]string{"-test.run=^$", "--"}, args...),
		Env:  append(append(os.Environ(), ChildEnv+"="+name), env...)})
}

// ChildArgs returns the arguments after "--" of a child started by RunChild.
func ChildArgs() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}

//go:build linux

package mesh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
)

// envHostile names the package a child process of
// TestThreeMFHostilePeakRSS measures.
const envHostile = "MESH_HOSTILE_3MF"

// hostilePackages are the packages of the security review at full size,
// built in memory (a stream that inflates to gigabytes is a few repeated
// deflate blocks).
var hostilePackages = map[string]func(t testing.TB) []byte{
	// three objects of 20 M vertices each: 2 GB of XML in 17 MB, deflated
	// at 120:1, under the ratio guard
	"3x20M vertices": func(t testing.TB) []byte {
		data, crc, size := threeObjectsOfVertices(t, 20_000_000)
		return rawPackage(t, deflatedPart(t, "[Content_Types].xml", contentTypesXML), deflatedPart(t, "_rels/.rels", testRels),
			rawPart{"3D/3dmodel.model", data, crc, size})
	},
	// the same with a directory that declares 500 MB inflated, under the
	// caps, so that the vertices are read until something else stops them
	"3x20M vertices, inflated size understated": func(t testing.TB) []byte {
		data, crc, size := threeObjectsOfVertices(t, 20_000_000)
		pkg := rawPackage(t, deflatedPart(t, "[Content_Types].xml", contentTypesXML), deflatedPart(t, "_rels/.rels", testRels),
			rawPart{"3D/3dmodel.model", data, crc, size})
		return rewriteDirSize(t, pkg, "3D/3dmodel.model", dirUncompressed, 0, 500_000_000)
	},
	// one object of 60 M triangles over four vertices (1.9 GB of XML),
	// with a directory that declares just under 512 MiB inflated, about
	// the most the package may declare
	"60M triangles, inflated size understated": func(t testing.TB) []byte {
		data, crc, size := oneObjectOfTriangles(t, 60_000_000)
		pkg := rawPackage(t, deflatedPart(t, "[Content_Types].xml", contentTypesXML), deflatedPart(t, "_rels/.rels", testRels),
			rawPart{"3D/3dmodel.model", data, crc, size})
		return rewriteDirSize(t, pkg, "3D/3dmodel.model", dirUncompressed, 0, uint64(DefaultLimits().MaxUncompressed)-4096)
	},
	// 400 MB of whitespace whose directory claims 200 times its compressed size
	"400 MB, compressed size x200": func(t testing.TB) []byte {
		return rewriteDirSize(t, spacesPackage(t, 400<<20), "3D/3dmodel.model", dirCompressed, 200, 0)
	},
}

// TestThreeMFHostilePeakRSS measures each hostile package with the default
// limits in a process of its own, and checks that it is refused as too
// large with the process's peak resident memory (VmHWM, runtime and test
// binary included) under 512 MiB.
func TestThreeMFHostilePeakRSS(t *testing.T) {
	if name := os.Getenv(envHostile); name != "" {
		hostileChild(t, name)
		return
	}
	if testing.Short() {
		t.Skip("measures peak memory in child processes: not with -short")
	}
	const budget = 512 << 20
	// The children run a test binary built without the race detector,
	// whose shadow memory would swamp the measure under make test.
	bin := testenv.NoRaceTestBinary(t)
	for name := range hostilePackages {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^TestThreeMFHostilePeakRSS$")
			cmd.Env = append(os.Environ(), envHostile+"="+name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var res map[string]string
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "hostile3mf: "); ok {
					res = map[string]string{}
					for _, f := range strings.Split(line, "\t") {
						k, v, _ := strings.Cut(f, "=")
						res[k] = v
					}
				}
			}
			if res == nil {
				t.Fatalf("no result from the child:\n%s", out)
			}
			peak, _ := strconv.ParseInt(res["vmhwm_kib"], 10, 64)
			t.Logf("package %s bytes, built in %s, refused in %s, peak RSS %d MiB (generating it: %d MiB): %s",
				res["size"], res["build"], res["measure"], peak>>10, mustInt(res["vmhwm_built_kib"])>>10, res["err"])
			if res["too_large"] != "true" {
				t.Errorf("not refused as too large: %s", res["err"])
			}
			if peak<<10 > budget {
				t.Errorf("peak RSS %d MiB, over %d MiB", peak>>10, budget>>20)
			}
		})
	}
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func hostileChild(t *testing.T, name string) {
	build := hostilePackages[name]
	if build == nil {
		t.Fatalf("no hostile package %q", name)
	}
	t0 := time.Now()
	pkg := build(t)
	built, t1 := vmHWM(t), time.Now()
	_, err := MeasureBytes(context.Background(), pkg, DefaultOptions())
	t2 := time.Now()
	fmt.Printf("hostile3mf: size=%d\tbuild=%s\tmeasure=%s\tvmhwm_built_kib=%d\tvmhwm_kib=%d\ttoo_large=%v\terr=%v\n",
		len(pkg), t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), built, vmHWM(t), errors.Is(err, ErrTooLarge), err)
}

// vmHWM is the process's peak resident set in KiB.
func vmHWM(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return mustInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/printreg/printreg/internal/cli"
)

// The deployment files are checked here because no Docker engine or
// systemd runs where the tests do: the compose file is parsed (not run),
// its ingest environment goes through ingest's own configuration loader,
// and the NATS, Dockerfile and systemd files are read for what the
// documentation promises of them.

const deployDir = "../../deploy"

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	EnvFile     []string          `yaml:"env_file"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	MemLimit    string            `yaml:"mem_limit"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Deploy struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src := strings.Split(v, ":")[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("service %s mounts %s, which deploy/ lacks", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %q, not declared", name, src)
			}
		}
	}
	return c.Services
}

// readEnvFile reads KEY=VALUE lines; an empty value gets a placeholder.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
			continue
		}
		if v != "" {
			t.Errorf("%s: %s holds a value; the example must hold none", path, k)
		}
		env[k] = "placeholder-" + strings.Repeat("x", 40)
	}
	return env
}

// TestComposeFile: the services the documentation names, their images, the
// order they start in, and that every PRINTREG_ variable the ingest
// services get is one ingest reads.
func TestComposeFile(t *testing.T) {
	svc := loadCompose(t)
	for _, name := range []string{"nats-1", "nats-2", "nats-3", "minio", "setup", "ingest", "receive"} {
		if _, ok := svc[name]; !ok {
			t.Fatalf("compose.yaml has no service %s", name)
		}
	}
	secrets := []string{envSiteSecret, envS3AccessKey, envS3SecretKey, envNATSToken, envNATSPassword, envConfigFile}
	for _, name := range []string{"setup", "ingest", "receive"} {
		s := svc[name]
		if s.Image != "printreg/ingest:dev" || s.Build == nil || s.Build.Context != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: image %q, build %+v; want the image built from the repository's Dockerfile", name, s.Image, s.Build)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || s.MemLimit != "512m" {
			t.Errorf("%s: read_only %v, cap_drop %v, mem_limit %q", name, s.ReadOnly, s.CapDrop, s.MemLimit)
		}
		env := []string{}
		for k, v := range s.Environment {
			env = append(env, k+"="+v)
		}
		for _, f := range s.EnvFile {
			// The example stands for the file a site fills in.
			for k, v := range readEnvFile(t, filepath.Join(deployDir, f+".example")) {
				env = append(env, k+"="+v)
			}
		}
		cfg := lookupEnv(env, envConfigFile)
		if cfg != "/etc/printreg/ingest.yaml" || !slices.Contains(s.Volumes, "./ingest.yaml:/etc/printreg/ingest.yaml:ro") {
			t.Fatalf("%s: PRINTREG_CONFIG %q, volumes %v", name, cfg, s.Volumes)
		}
		// The configuration file is mounted from deploy/ingest.yaml.
		var local []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, envConfigFile+"=") {
				local = append(local, kv)
			}
		}
		l, err := loadConfig(filepath.Join(deployDir, "ingest.yaml"), local)
		if err != nil {
			t.Fatalf("%s: deploy/ingest.yaml with the service's environment: %v", name, err)
		}
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, envPrefix) && !slices.Contains(l.env, k) && !slices.Contains(secrets, k) {
				t.Errorf("%s: %s is not a setting ingest reads (no configuration key, no secret)", name, k)
			}
		}
		for _, k := range []string{envSiteSecret, envS3AccessKey, envS3SecretKey, envNATSPassword} {
			if lookupEnv(env, k) == "" {
				t.Errorf("%s: secret %s is not provided", name, k)
			}
		}
		if l.embedded() || l.Storage.Raw.Type != "s3" || l.Streams.Replicas != 3 || l.NATS.User == "" {
			t.Errorf("%s: configuration %+v", name, l.Config)
		}
		for _, u := range strings.Split(l.NATS.URL, ",") {
			host := strings.TrimSuffix(strings.TrimPrefix(u, "nats://"), ":4222")
			if _, ok := svc[host]; !ok {
				t.Errorf("nats.url names %s, which is no service", u)
			}
		}
		if host := strings.Split(l.Storage.S3.Endpoint, ":")[0]; host != "minio" {
			t.Errorf("storage.s3.endpoint %s is not the minio service", l.Storage.S3.Endpoint)
		}
	}
	if want := []string{"setup"}; !slices.Equal(svc["setup"].Command, want) || !slices.Equal(svc["ingest"].Command, []string{"run"}) || !slices.Equal(svc["receive"].Command, []string{"receive"}) {
		t.Errorf("commands: setup %v, ingest %v, receive %v", svc["setup"].Command, svc["ingest"].Command, svc["receive"].Command)
	}
	for _, name := range []string{"ingest", "receive"} {
		if c := svc[name].DependsOn["setup"].Condition; c != "service_completed_successfully" {
			t.Errorf("%s starts before setup has finished (condition %q)", name, c)
		}
	}
	for _, dep := range []string{"nats-1", "nats-2", "nats-3", "minio"} {
		if c := svc["setup"].DependsOn[dep].Condition; c != "service_healthy" {
			t.Errorf("setup does not wait for %s to be healthy (%q)", dep, c)
		}
	}
	if svc["ingest"].Deploy.Replicas < 2 {
		t.Errorf("ingest runs %d workers", svc["ingest"].Deploy.Replicas)
	}
	if !slices.Contains(svc["receive"].Ports, "11112:11112") {
		t.Errorf("receive publishes %v, not the C-STORE port", svc["receive"].Ports)
	}

	// MinIO's notification target is the one ingest setup attaches the raw
	// bucket to, on a subject of the work stream, at a NATS service.
	m := svc["minio"]
	if !strings.HasPrefix(m.Image, "minio/minio") {
		t.Errorf("minio image %q", m.Image)
	}
	l, err := loadConfig(filepath.Join(deployDir, "ingest.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := regexp.MustCompile(`^arn:minio:sqs::([A-Z0-9_]+):nats$`).FindStringSubmatch(l.Notify.ARN)
	if id == nil {
		t.Fatalf("notify.arn %q", l.Notify.ARN)
	}
	e := m.Environment
	if e["MINIO_NOTIFY_NATS_ENABLE_"+id[1]] != "on" || e["MINIO_NOTIFY_NATS_JETSTREAM_"+id[1]] != "on" || e["MINIO_NOTIFY_NATS_QUEUE_DIR_"+id[1]] == "" {
		t.Errorf("MinIO's NATS target %s is not on, with JetStream and a queue: %v", id[1], e)
	}
	if s := e["MINIO_NOTIFY_NATS_SUBJECT_"+id[1]]; !strings.HasPrefix(s, l.topology().WorkSubject+".") {
		t.Errorf("MinIO publishes on %q, outside the work stream's %s.>", s, l.topology().WorkSubject)
	}
	if host := strings.Split(e["MINIO_NOTIFY_NATS_ADDRESS_"+id[1]], ":")[0]; !strings.HasPrefix(host, "nats-") || svc[host].Image == "" {
		t.Errorf("MinIO's NATS address %q is no NATS service", e["MINIO_NOTIFY_NATS_ADDRESS_"+id[1]])
	}
	if _, err := strconv.Atoi(e["MINIO_NOTIFY_NATS_PING_INTERVAL_"+id[1]]); err != nil {
		t.Errorf("MINIO_NOTIFY_NATS_PING_INTERVAL must be an integer (MinIO ignores the target otherwise): %v", err)
	}
	minioEnv := readEnvFile(t, filepath.Join(deployDir, "minio.env.example"))
	for _, k := range []string{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MINIO_NOTIFY_NATS_PASSWORD_" + id[1]} {
		if _, ok := minioEnv[k]; !ok {
			t.Errorf("minio.env.example lacks %s", k)
		}
	}
}

// TestNATSClusterConfig: three servers of one cluster, each with
// JetStream, whose routes name all three; their users are the ones
// ingest and MinIO connect as, with passwords from the servers'
// environment file.
func TestNATSClusterConfig(t *testing.T) {
	svc := loadCompose(t)
	route := regexp.MustCompile(`nats-route://([a-z0-9-]+):6222`)
	var clusters []string
	for i := 1; i <= 3; i++ {
		name := "nats-" + strconv.Itoa(i)
		s := svc[name]
		if !strings.HasPrefix(s.Image, "nats:") || !slices.Equal(s.Command, []string{"-c", "/etc/nats/" + name + ".conf"}) {
			t.Errorf("%s: image %q, command %v", name, s.Image, s.Command)
		}
		b, err := os.ReadFile(filepath.Join(deployDir, "nats", name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		conf := string(b)
		if !regexp.MustCompile(`(?m)^server_name: ` + name + `$`).MatchString(conf) {
			t.Errorf("%s.conf does not name its server %s", name, name)
		}
		if !regexp.MustCompile(`(?m)^jetstream \{`).MatchString(conf) || !strings.Contains(conf, "include ./auth.conf") {
			t.Errorf("%s.conf: no JetStream block or no auth include", name)
		}
		var routes []string
		for _, m := range route.FindAllStringSubmatch(conf, -1) {
			routes = append(routes, m[1])
		}
		if !slices.Equal(routes, []string{"nats-1", "nats-2", "nats-3"}) {
			t.Errorf("%s routes to %v, want all three servers", name, routes)
		}
		for _, r := range routes {
			if _, ok := svc[r]; !ok {
				t.Errorf("%s routes to %s, which is no service", name, r)
			}
		}
		if m := regexp.MustCompile(`(?m)^\s+name: (\S+)$`).FindStringSubmatch(conf); m != nil {
			clusters = append(clusters, m[1])
		}
	}
	if len(clusters) != 3 || clusters[0] != clusters[1] || clusters[1] != clusters[2] {
		t.Errorf("cluster names %v: the three servers must share one", clusters)
	}
	auth, err := os.ReadFile(filepath.Join(deployDir, "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	natsEnv := readEnvFile(t, filepath.Join(deployDir, "nats.env.example"))
	for _, m := range regexp.MustCompile(`\$([A-Z_]+)`).FindAllStringSubmatch(string(auth), -1) {
		if _, ok := natsEnv[m[1]]; !ok {
			t.Errorf("auth.conf reads $%s, which nats.env.example does not provide", m[1])
		}
	}
	l, err := loadConfig(filepath.Join(deployDir, "ingest.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	minioUser := svc["minio"].Environment["MINIO_NOTIFY_NATS_USERNAME_PRINTREG"]
	for _, u := range []string{l.NATS.User, minioUser} {
		if !regexp.MustCompile(`user: ` + regexp.QuoteMeta(u) + `\b`).Match(auth) {
			t.Errorf("auth.conf has no user %q", u)
		}
	}
}

// TestDockerfile: a static binary, built as the documentation says, on a
// minimal image that runs as a user without privileges, with /data.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0 go build -trimpath -buildvcs=false",
		`-ldflags "-s -w -X github.com/printreg/printreg/internal/cli.Version=${VERSION}"`,
		"./cmd/ingest ./cmd/deid ./cmd/extract",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"COPY --from=build --chown=65532:65532 /out/data /data",
		"USER 65532:65532",
		`VOLUME ["/data"]`,
		`ENTRYPOINT ["/usr/local/bin/ingest"]`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The version flag points at the variable the commands print.
	if cli.Version == "" {
		t.Error("cli.Version is empty")
	}
	di, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(di), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, needed := range []string{"cmd", "pkg", "internal", "go.mod", "go.sum"} {
			if strings.TrimPrefix(line, "/") == needed {
				t.Errorf(".dockerignore leaves out %s, which the build needs", needed)
			}
		}
	}
}

// TestSystemdUnit: the hardening the documentation lists, the memory limit
// of the documented budget, secrets from an environment file.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open(filepath.Join(deployDir, "systemd", "printreg-ingest.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		set[k] = append(set[k], v)
	}
	for k, want := range map[string]string{
		"ExecStart": "/usr/local/bin/ingest run", "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "Restart": "on-failure",
		"EnvironmentFile": "/etc/printreg/printreg.env", "ReadWritePaths": "/var/lib/printreg", "StateDirectory": "printreg",
		"MemoryMax": "512M",
	} {
		if v, ok := set[k]; !ok || v[len(v)-1] != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	// 512 MiB is what docs/security.md promises of the default budget: the
	// budget plus the Go runtime's headroom must fit under it.
	if cli.DefaultMemoryBudget+128<<20 > 512<<20 {
		t.Errorf("the default memory budget %d no longer fits MemoryMax=512M", cli.DefaultMemoryBudget)
	}
	// The unit's data folder is the data_dir a site's ingest.yaml names.
	if !slices.Contains(set["WorkingDirectory"], "/var/lib/printreg") {
		t.Errorf("WorkingDirectory = %v", set["WorkingDirectory"])
	}
	if slices.ContainsFunc(set["Environment"], func(s string) bool {
		return strings.Contains(s, "SECRET") || strings.Contains(s, "PASSWORD") || strings.Contains(s, "ACCESS_KEY")
	}) {
		t.Error("a secret is set in the unit instead of the environment file")
	}
}

package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/exchops/exchops/config"
)

// No Docker engine runs where the tests run, so these tests read the Dockerfile and
// .dockerignore and check what the rest of exchops relies on; the static build is checked
// by building the binary the same way and reading its ELF headers.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from  string // the image, without --platform
	name  string // AS name, or ""
	instr []instruction
}

func parseDockerfile(t *testing.T, r io.Reader) []stage {
	t.Helper()
	var stages []stage
	sc := bufio.NewScanner(r)
	var buf strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if buf.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue // comments and parser directives
		}
		if buf.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if buf.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			buf.WriteString(cont + " ")
			continue
		}
		buf.WriteString(line)
		cmd, args, _ := strings.Cut(buf.String(), " ")
		buf.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			var st stage
			for f := range strings.FieldsSeq(in.args) {
				switch {
				case strings.HasPrefix(f, "--"):
				case st.from == "":
					st.from = f
				case strings.EqualFold(f, "AS"):
				default:
					st.name = f
				}
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// all returns the arguments of every instruction cmd in st.
func (st stage) all(cmd string) []string {
	var out []string
	for _, in := range st.instr {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// last returns the arguments of st's last instruction cmd, or "".
func (st stage) last(cmd string) string {
	a := st.all(cmd)
	if len(a) == 0 {
		return ""
	}
	return a[len(a)-1]
}

// execForm parses the JSON (exec) form of CMD and ENTRYPOINT; the shell form would need
// a shell, which the final image does not have.
func execForm(t *testing.T, cmd, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Fatalf("%s %s: not the exec form [\"...\"]: %v", cmd, args, err)
	}
	return v
}

// envValue returns the value an ENV instruction in st sets for key, or "".
func envValue(st stage, key string) string {
	val := ""
	for _, args := range st.all("ENV") {
		for f := range strings.FieldsSeq(args) {
			if k, v, ok := strings.Cut(f, "="); ok && k == key {
				val = strings.Trim(v, `"`)
			}
		}
	}
	return val
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := parseDockerfile(t, f)
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a build stage and a small final stage", len(stages))
	}
	final := stages[len(stages)-1]

	var build *stage
	var buildRun string
	for i := range stages[:len(stages)-1] {
		for _, run := range stages[i].all("RUN") {
			if strings.Contains(run, "go build") {
				build, buildRun = &stages[i], run
			}
		}
	}
	if build == nil {
		t.Fatal("no stage before the last one runs go build")
	}
	t.Run("build stage", func(t *testing.T) {
		img := strings.ReplaceAll(build.from, "${GO_VERSION}", "1.26")
		if !strings.HasPrefix(img, "golang:1.26") {
			t.Errorf("build stage FROM %s: want a golang:1.26 image (go.mod says go 1.26)", build.from)
		}
		if !strings.Contains(buildRun, "CGO_ENABLED=0") && envValue(*build, "CGO_ENABLED") != "0" {
			t.Errorf("go build without CGO_ENABLED=0: %s", buildRun)
		}
		for _, flag := range []string{"-trimpath", "-s -w", "-o /out/exchops"} {
			if !strings.Contains(buildRun, flag) {
				t.Errorf("go build without %s: %s", flag, buildRun)
			}
		}
	})

	t.Run("non-root", func(t *testing.T) {
		user := final.last("USER")
		switch {
		case user == "":
			if !strings.HasSuffix(final.from, ":nonroot") && !strings.Contains(final.from, ":nonroot@") {
				t.Errorf("final stage FROM %s has no USER and is not a nonroot image", final.from)
			}
		default:
			name, _, _ := strings.Cut(user, ":")
			if name == "root" || name == "0" {
				t.Errorf("USER %s: the final stage must not run as root", user)
			}
		}
	})

	t.Run("entrypoint and cmd", func(t *testing.T) {
		ep := execForm(t, "ENTRYPOINT", final.last("ENTRYPOINT"))
		if len(ep) != 1 || ep[0] != "/exchops" {
			t.Errorf("ENTRYPOINT %q, want [\"/exchops\"]", ep)
		}
		copied := false
		for _, c := range final.all("COPY") {
			if strings.Contains(c, "--from=") && strings.HasSuffix(c, " /exchops") {
				copied = true
			}
		}
		if !copied {
			t.Error("the final stage does not COPY the binary from the build to /exchops")
		}
		cmd := execForm(t, "CMD", final.last("CMD"))
		if len(cmd) == 0 || cmd[0] != "serve" {
			t.Fatalf("CMD %q: want serve first", cmd)
		}
		if i := indexOf(cmd, "--config"); i < 0 || i+1 >= len(cmd) || !filepath.IsAbs(cmd[i+1]) {
			t.Errorf("CMD %q: want --config with an absolute path", cmd)
		}
		if !strings.Contains(usage, "exchops serve --config") {
			t.Error("the CLI's usage no longer lists serve --config")
		}
	})

	t.Run("volume", func(t *testing.T) {
		want := path.Dir(config.Default().Database)
		vol := strings.TrimSpace(final.last("VOLUME"))
		var vols []string
		if strings.HasPrefix(vol, "[") {
			vols = execForm(t, "VOLUME", vol)
		} else {
			vols = strings.Fields(vol)
		}
		if indexOf(vols, want) < 0 {
			t.Fatalf("VOLUME %q, want the database's folder %s (config.Default().Database)", vols, want)
		}
		// The folder must exist in the image and belong to the user that runs exchops:
		// a new volume takes its owner from it, and SQLite must create files there.
		user := final.last("USER")
		owned := false
		for _, c := range final.all("COPY") {
			f := strings.Fields(c)
			if len(f) == 0 || f[len(f)-1] != want {
				continue
			}
			for _, opt := range f {
				if chown, ok := strings.CutPrefix(opt, "--chown="); ok && (user == "" || chown == user) {
					owned = true
				}
			}
		}
		if !owned {
			t.Errorf("no COPY --chown=%s ... %s: the volume would belong to root", user, want)
		}
	})

	t.Run("listen", func(t *testing.T) {
		listen := envValue(final, "EXCHOPS_LISTEN")
		if listen == "" {
			t.Fatal("no ENV EXCHOPS_LISTEN: exchops would listen on 127.0.0.1, unreachable from outside the container")
		}
		// The override must be one config accepts (config.applyEnv) and reach all interfaces.
		c, err := config.Parse(strings.NewReader(""), []string{"EXCHOPS_LISTEN=" + listen})
		if err != nil {
			t.Fatalf("EXCHOPS_LISTEN=%s: %v", listen, err)
		}
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			t.Fatal(err)
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			t.Errorf("EXCHOPS_LISTEN=%s: listens on %s only, not on every interface", listen, host)
		}
		if indexOf(strings.Fields(final.last("EXPOSE")), port) < 0 && indexOf(strings.Fields(final.last("EXPOSE")), port+"/tcp") < 0 {
			t.Errorf("EXPOSE %q does not include the listen port %s", final.last("EXPOSE"), port)
		}
	})
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// ignorePattern is one .dockerignore line.
type ignorePattern struct {
	segs   []string
	negate bool
}

func readDockerignore(t *testing.T) []ignorePattern {
	t.Helper()
	data, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var ps []ignorePattern
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.negate, line = true, rest
		}
		line = strings.Trim(path.Clean(strings.TrimPrefix(line, "/")), "/")
		p.segs = strings.Split(line, "/")
		ps = append(ps, p)
	}
	return ps
}

// ignored reports whether Docker leaves name (slash-separated, relative to the context)
// out of the build context: as Docker does, a pattern matches a path or any folder above
// it, ** matches any number of folders, and the last matching line wins.
func ignored(ps []ignorePattern, name string) bool {
	segs := strings.Split(name, "/")
	out := false
	for _, p := range ps {
		for n := 1; n <= len(segs); n++ {
			if matchSegs(p.segs, segs[:n]) {
				out = !p.negate
				break
			}
		}
	}
	return out
}

func matchSegs(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegs(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && matchSegs(pat[1:], name[1:])
}

func TestDockerignore(t *testing.T) {
	ps := readDockerignore(t)
	for _, name := range []string{".git/HEAD", "bin/exchops", "exchops", "lab/testdata/x.golden", "runners/testdata/fuzz/FuzzX/seed", "exchops.db"} {
		if !ignored(ps, name) {
			t.Errorf("%s is sent to the Docker build, which does not need it", name)
		}
	}

	// Everything go build reads must stay: go.mod, go.sum, every Go file of every
	// package (tests included, for anyone who runs them in the build stage) and every
	// file a //go:embed pattern names.
	needed := []string{"go.mod", "go.sum"}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages")
	}
	cmd := exec.Command(goBin, "list", "-e", "-json=Dir,GoFiles,CgoFiles,TestGoFiles,XTestGoFiles,EmbedFiles,TestEmbedFiles,IgnoredGoFiles", "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                                           string
			GoFiles, CgoFiles, EmbedFiles, IgnoredGoFiles []string
			TestGoFiles, XTestGoFiles, TestEmbedFiles     []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(wd, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.EmbedFiles, p.IgnoredGoFiles, p.TestGoFiles, p.XTestGoFiles} {
			for _, f := range list {
				needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, name := range needed {
		if ignored(ps, name) {
			t.Errorf(".dockerignore leaves out %s, which go build needs", name)
		}
	}
}

// TestDockerBinaryStatic builds exchops as the Dockerfile does and checks that the result
// needs no dynamic loader or shared library: the final image has neither.
func TestDockerBinaryStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is Linux; this checks an ELF file")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(t.TempDir(), "exchops")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is dynamically linked", p.Type)
		}
	}
	for _, name := range []string{".interp", ".dynamic"} {
		if f.Section(name) != nil {
			t.Errorf("the binary has a %s section", name)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}

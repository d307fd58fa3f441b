package main

// The console in a real browser: headless Chromium (Debian's chromium, installed by
// .ci/run) driven over the DevTools protocol, against the whole of exchops — the lab,
// SQLite, approvals, the WinRM runner and the console — as `exchops demo` starts it.

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/lab"
)

// chromium finds a Chromium to drive. In CI a missing browser is a failure, not a skip:
// .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH (apt-get install chromium); CI runs this test")
	return ""
}

// startDemo starts exchops as `exchops demo` does, on a free port, with a lab whose
// changes complete at once.
func startDemo(t *testing.T) *app {
	t.Helper()
	cfg := demoConfig("127.0.0.1:0", filepath.Join(t.TempDir(), "exchops.db"))
	a, err := startApp(context.Background(), appOptions{Config: cfg, Lab: true, Console: true, DrillInterval: 50 * time.Millisecond,
		LabOptions: lab.Options{Timing: &lab.Timing{}, OperationTimeoutCap: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	exe := chromium(t)
	a := startDemo(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where Chromium refuses its sandbox
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 1400),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	const card = `.card[data-request="r-1"]`
	shots := map[string][]byte{}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport, as a person sees it
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		shots[name] = b
	}

	step("opening the console", chromedp.Navigate(a.URL), chromedp.WaitVisible(`body[data-ready]`))
	step("alice asks for the DAG",
		chromedp.Click(`[data-person="alice"]`),
		chromedp.SendKeys(`#command`, `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`),
		chromedp.Click(`#send`),
		chromedp.WaitVisible(card+`[data-status="pending"] button.approve`))
	shot("console-request")
	step("alice approves her own request", chromedp.Click(card+` button.approve`), chromedp.WaitVisible(`.reply.refused[data-for="alice"]`))
	refused := text(`.reply.refused[data-for="alice"]`)
	step("bob approves",
		chromedp.Click(`[data-person="bob"]`),
		chromedp.Click(card+` button.approve`),
		chromedp.WaitVisible(card+`[data-status="succeeded"]`))
	status := text(card + ` .status`)
	shot("console-approved")
	step("history", chromedp.Click(`button.quick-cmd[data-command="history"]`), chromedp.WaitVisible(`.history-row[data-request="r-1"]`))
	history := text(`.history-row[data-request="r-1"]`)
	shot("console-history")

	if !strings.Contains(refused, "your own request") {
		t.Errorf("alice's own approval: %q", refused)
	}
	if !strings.Contains(status, "succeeded") {
		t.Errorf("card status: %q", status)
	}
	for _, who := range []string{"alice", "bob", "succeeded"} {
		if !strings.Contains(history, who) {
			t.Errorf("history row lacks %q: %q", who, history)
		}
	}
	// The organisation really changed: the lab has the DAG, through the real runner.
	r, err := a.approval.Get(context.Background(), "r-1")
	if err != nil || r.Run == nil || !strings.Contains(r.Run.Output, "E14-DAG") {
		t.Fatalf("r-1 after the run: %v %+v", err, r)
	}

	// Screenshots: checked as images every run, written to docs/ with -update (README
	// shows them).
	for name, b := range shots {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
		if img.Bounds().Dx() < 1000 {
			t.Errorf("%s: %v wide", name, img.Bounds())
		}
		if golden.Updating() {
			if err := os.WriteFile(filepath.Join("docs", name+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

package lab_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// TestRunnerEndpoints: the runner reaches every lab server with RunnerEndpoints, over
// HTTP with NTLM message encryption (also when the lab refuses unencrypted HTTP) and over
// HTTPS trusting the lab's certificates.
func TestRunnerEndpoints(t *testing.T) {
	for _, tc := range []struct{ tls, strict bool }{{false, false}, {false, true}, {true, true}} {
		tls := tc.tls
		l, err := lab.Start(lab.Options{TLS: tls, RequireEncryption: tc.strict})
		if err != nil {
			t.Fatal(err)
		}
		r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l.RunnerEndpoints() {
			wantAuth := runners.AuthNTLMEncrypted
			if tls {
				wantAuth = runners.AuthNTLM
			}
			if e.HTTPS != tls || e.AllowUnencrypted || e.Auth != wantAuth {
				t.Errorf("tls=%v: %s", tls, e)
			}
			res, err := r.Run(context.Background(), e.Name, "hostname")
			if err != nil || !strings.Contains(strings.ToUpper(res.Stdout), e.Name) {
				t.Errorf("tls=%v: hostname on %s: %v %+v", tls, e.Name, err, res)
			}
		}
		l.Close()
	}
}

// TestExchangeEndpointsServed: every Exchange server serves its Exchange endpoint at
// PowerShellURL on its WS-Management listener (asking for credentials); DC01 has none.
func TestExchangeEndpointsServed(t *testing.T) {
	l, err := lab.Start(lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range l.Servers {
		exchange := e.Name != "DC01"
		if (e.PowerShellURL != "") != exchange || (e.Exchange != nil) != exchange {
			t.Errorf("%s: PowerShellURL %q, Exchange %v", e.Name, e.PowerShellURL, e.Exchange)
			continue
		}
		url := e.PowerShellURL
		want := http.StatusUnauthorized
		if !exchange {
			url, want = strings.TrimSuffix(e.URL, "/wsman")+"/PowerShell/", http.StatusNotFound
		} else if !strings.HasSuffix(url, "/PowerShell/") || !strings.HasPrefix(url, strings.TrimSuffix(e.URL, "/wsman")) {
			t.Errorf("%s: PowerShellURL %q is not /PowerShell/ on %s", e.Name, url, e.URL)
		}
		resp, err := http.Post(url, "application/soap+xml;charset=UTF-8", strings.NewReader("<x/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: POST %s: %d, want %d", e.Name, url, resp.StatusCode, want)
		}
	}
}

package lab_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// TestRunnerEndpoints: the runner reaches every lab server with RunnerEndpoints, over
// HTTP and over HTTPS trusting the lab's certificates.
func TestRunnerEndpoints(t *testing.T) {
	for _, tls := range []bool{false, true} {
		l, err := lab.Start(lab.Options{TLS: tls})
		if err != nil {
			t.Fatal(err)
		}
		r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l.RunnerEndpoints() {
			if e.HTTPS != tls || e.AllowUnencrypted == tls {
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

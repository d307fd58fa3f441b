package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/krbtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// kerberosEndpoints turns the lab's runner endpoints to Kerberos with the KDC's realm,
// each asking for its own server's SPN.
func kerberosEndpoints(l *lab.Lab, k *krbtest.KDC) []runners.Endpoint {
	eps := l.RunnerEndpoints()
	for i := range eps {
		eps[i].Auth, eps[i].Password = runners.AuthKerberos, k.Password
		eps[i].Kerberos = runners.Kerberos{Realm: k.Realm, ConfigPath: k.Config,
			SPN: krbtest.SPN(strings.ToLower(eps[i].Name) + ".msglab.local")}
	}
	return eps
}

// TestKerberosLab: with Options.KerberosKeytab every server accepts tickets for its own
// HTTP/<fqdn> from the realm, over HTTP and HTTPS, and refuses another server's.
func TestKerberosLab(t *testing.T) {
	k := krbtest.Start(t)
	for _, tls := range []bool{false, true} {
		l, err := lab.Start(lab.Options{TLS: tls, KerberosKeytab: k.Keytab})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		eps := kerberosEndpoints(l, k)
		r, err := runners.New(eps, runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			res, err := r.Run(context.Background(), e.Name, "hostname")
			if err != nil || !strings.Contains(strings.ToUpper(res.Stdout), e.Name) {
				t.Errorf("tls=%v: hostname on %s with Kerberos: %v %+v", tls, e.Name, err, res)
			}
		}
		// EX10-MB02 presented with a ticket for EX10-MB01: the KDC issues it, MB02
		// cannot use it.
		wrong := eps[0]
		for _, e := range eps {
			if e.Name == "EX10-MB02" {
				wrong = e
			}
		}
		wrong.Kerberos.SPN = krbtest.SPN("ex10-mb01.msglab.local")
		r2, err := runners.New([]runners.Endpoint{wrong}, runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r2.Run(context.Background(), wrong.Name, "hostname")
		if runners.KindOf(err) != runners.Unauthorized {
			t.Errorf("tls=%v: a ticket for EX10-MB01 on %s: %v, want unauthorized", tls, wrong.Name, err)
		}
	}
}

func TestKerberosLabKeytabErrors(t *testing.T) {
	k := krbtest.Start(t, "ex10-mb01.msglab.local") // a keytab without the other servers
	_, err := lab.Start(lab.Options{KerberosKeytab: k.Keytab})
	if err == nil || !strings.Contains(err.Error(), "no key for HTTP/") {
		t.Errorf("Start with a keytab missing servers: %v", err)
	}
	notKeytab := filepath.Join(t.TempDir(), "not.keytab")
	if err := os.WriteFile(notKeytab, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Start(lab.Options{KerberosKeytab: notKeytab}); err == nil || !strings.Contains(err.Error(), "not a keytab") {
		t.Errorf("Start with a file that is not a keytab: %v", err)
	}
}

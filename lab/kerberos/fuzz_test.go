package kerberos

import (
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// fuzzAcceptor is an acceptor whose keytab is made in the test (no KDC), so fuzzing runs
// anywhere; its key is derived from a fixed password so the committed seeds stay valid.
func fuzzAcceptor(t testing.TB) (*Acceptor, *keytab.Keytab) {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/ex10-mb01.msglab.local", "MSGLAB.LOCAL", "fuzz-service-key", time.Unix(1700000000, 0), 2, 18); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Keytab: kt, SPNs: []string{"HTTP/ex10-mb01.msglab.local"}})
	if err != nil {
		t.Fatal(err)
	}
	return a, kt
}

// FuzzAccept feeds arbitrary Authorization tokens to the acceptor: it must never panic
// (parseToken runs outside Accept's recover here), and whatever it accepts names a user.
func FuzzAccept(f *testing.F) {
	a, kt := fuzzAcceptor(f)
	now := time.Now()
	for _, s := range []tokenSpec{{}, {mutual: true, msMech: true}, {raw: true, mutual: true}} {
		f.Add(forgedToken(f, kt, "HTTP/ex10-mb01.msglab.local", "MSGLAB.LOCAL", 2, now.Add(-time.Minute), now.Add(time.Hour), s))
	}
	f.Add([]byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x01})
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, token []byte) {
		if len(token) > 0 && len(token) <= maxToken {
			_, _, _ = parseToken(token) // must not panic
		}
		user, resp, err := a.Accept(token)
		if err != nil {
			if user != "" || resp != nil {
				t.Fatalf("refusal with user %q and a response", user)
			}
			if !strings.HasPrefix(err.Error(), "kerberos: ") {
				t.Fatalf("error without the package's prefix: %v", err)
			}
			return
		}
		if !strings.Contains(user, `\`) {
			t.Fatalf("accepted user %q is not DOMAIN\\name", user)
		}
	})
}

package wsman

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUnencryptedHTTPRefused: with AllowUnencrypted off (the Windows default), plain
// HTTP takes only NTLM-sealed messages. Basic is rejected with 401 and unsealed NTLM with
// HTTP 500, on /wsman; over HTTPS both work.
func TestUnencryptedHTTPRefused(t *testing.T) {
	plain := startStrictHarness(t, Options{}, false)
	tls := startStrictHarness(t, Options{}, true)
	tests := []struct {
		name    string
		h       *harness
		cfg     clientConfig
		wantErr string // "" when the command runs
	}{
		{"basic over http", plain, clientConfig{user: localUser, password: localPassword, basic: true}, "401"},
		{"ntlm over http", plain, clientConfig{}, "wsman/fault"}, // the library reports the 500 fault so
		{"ntlm-encrypted over http", plain, clientConfig{encrypted: true}, ""},
		{"basic over https", tls, clientConfig{user: localUser, password: localPassword, basic: true, caPEM: tls.ln.CertPEM}, ""},
		{"ntlm over https", tls, clientConfig{caPEM: tls.ln.CertPEM}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.h.client(tt.cfg)
			stdout, _, code, err := c.RunCmdWithContext(context.Background(), "echo sealed")
			if tt.wantErr == "" {
				if err != nil || stdout != "sealed\r\n" || code != 0 {
					t.Fatalf("got %q exit %d, %v; want the command's output", stdout, code, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %q, %v; want an error with %s", stdout, err, tt.wantErr)
			}
		})
	}
	// What the refused unsealed request was answered with.
	var refused bool
	for _, e := range plain.recorded() {
		if e.status == 500 && bytes.Contains(e.response, []byte("AllowUnencrypted=false")) {
			refused = true
		}
	}
	if !refused {
		t.Error("no HTTP 500 fault saying AllowUnencrypted=false was recorded")
	}
}

// TestEncryptedSession runs several commands over NTLM message encryption: the request
// bodies on the wire are sealed (no SOAP in clear), and output comes back whole.
func TestEncryptedSession(t *testing.T) {
	h := startStrictHarness(t, Options{}, false)
	c := h.client(clientConfig{encrypted: true})
	for _, cmd := range []string{"echo one", "echo two", "big 200000"} {
		stdout, _, code, err := c.RunCmdWithContext(context.Background(), cmd)
		if err != nil || code != 0 {
			t.Fatalf("%s: exit %d, %v", cmd, code, err)
		}
		if cmd == "big 200000" && stdout != string(pattern(200000)) {
			t.Fatalf("big: got %d bytes, want the pattern", len(stdout))
		}
	}
	for _, e := range h.recorded() {
		if bytes.Contains(e.request, []byte("Envelope")) || bytes.Contains(e.response, []byte("Envelope")) {
			t.Fatalf("a message travelled in clear: %.200q -> %.200q", e.request, e.response)
		}
	}
}

// TestSealRoundTrip checks the server's sealing against itself with the roles swapped:
// what the client side seals (client-to-server keys) the server unseals, in sequence, and
// a replayed or altered message is refused.
func TestSealRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	flags := uint32(ntlmFlagSeal | ntlmFlagSign | ntlmFlagExtendedSecurity | ntlmFlag128 | ntlmFlagKeyExch)
	server, err := newNTLMSeal(account{name: "u"}, key, flags)
	if err != nil {
		t.Fatal(err)
	}
	// A client's context is a server's with the directions exchanged.
	client, _ := newNTLMSeal(account{name: "u"}, key, flags)
	client.in, client.out = client.out, client.in
	client.inSign, client.outSign = client.outSign, client.inSign
	for i, msg := range []string{"first", "second"} {
		sealed, sig := client.seal([]byte(msg))
		got, err := server.unseal(sealed, sig)
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: got %q, %v", i, got, err)
		}
		if _, err := server.unseal(sealed, sig); err == nil {
			t.Fatalf("message %d replayed: accepted", i)
		}
		// The replay moved the server's stream on; a fresh pair for the next message.
		server, _ = newNTLMSeal(account{name: "u"}, key, flags)
		client, _ = newNTLMSeal(account{name: "u"}, key, flags)
		client.in, client.out = client.out, client.in
		client.inSign, client.outSign = client.outSign, client.inSign
	}
	// The reply direction: the server seals, the client unseals.
	sealed, sig := server.seal([]byte("reply"))
	if got, err := client.unseal(sealed, sig); err != nil || string(got) != "reply" {
		t.Fatalf("reply: got %q, %v", got, err)
	}
	sealed, sig = client.seal([]byte("altered"))
	sealed[0] ^= 1
	if _, err := server.unseal(sealed, sig); err == nil {
		t.Fatal("an altered message was accepted")
	}
}

// FuzzParseEncrypted: parseEncrypted never panics, and what it returns lies inside the body.
func FuzzParseEncrypted(f *testing.F) {
	seal, _ := newNTLMSeal(account{}, bytes.Repeat([]byte{1}, 16), ntlmFlagSeal|ntlmFlagExtendedSecurity|ntlmFlag128)
	body, ct := buildEncrypted(seal, []byte("<s:Envelope/>"))
	f.Add(body, ct)
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=x;Length=99999999999\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00"), ct)
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		p, err := parseEncrypted(body, ct)
		if err != nil {
			return
		}
		if len(p.signature) != ntlmSignatureSize || len(p.sealed) != p.length || len(p.sealed) > len(body) {
			t.Fatalf("inconsistent part: signature %d bytes, sealed %d, length %d", len(p.signature), len(p.sealed), p.length)
		}
	})
}

package wsman

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// authenticateMessage builds an NTLMv2 AUTHENTICATE the way a client computes it
// (MS-NLMP 3.3.2), for a server challenge.
func authenticateMessage(user, domain, password string, challenge [8]byte) []byte {
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, windowsFileTime(time.Unix(1700000000, 0)))
	blob = append(blob, ts...)
	blob = append(blob, []byte("clientCh")...)
	blob = append(blob, 0, 0, 0, 0, 0, 0, 0, 0) // empty target info, then 4 zero bytes
	h := ntowfv2(password, user, domain)
	proof := hmacMD5(h, challenge[:], blob)
	nt := append(proof, blob...)

	dom, usr := utf16le(domain), utf16le(user)
	var m bytes.Buffer
	m.Write(ntlmSignature)
	le := func(v any) { _ = binary.Write(&m, binary.LittleEndian, v) }
	le(uint32(3))
	off := uint32(64)
	field := func(n int) { le(uint16(n)); le(uint16(n)); le(off); off += uint32(n) }
	field(0)       // LM
	field(len(nt)) // NT
	field(len(dom))
	field(len(usr))
	field(0) // workstation
	field(0) // session key
	le(uint32(ntlmFlagUnicode))
	m.Write(nt)
	m.Write(dom)
	m.Write(usr)
	return m.Bytes()
}

func TestVerifyNTLM(t *testing.T) {
	u := newUsers(map[string]string{testUser: testPassword})
	ch := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"right password", authenticateMessage("svc-exchops", "MSGLAB", testPassword, ch), true},
		{"user case differs", authenticateMessage("SVC-Exchops", "MSGLAB", testPassword, ch), true},
		{"wrong password", authenticateMessage("svc-exchops", "MSGLAB", "nope", ch), false},
		{"other challenge", authenticateMessage("svc-exchops", "MSGLAB", testPassword, [8]byte{9}), false},
		{"unknown user", authenticateMessage("mallory", "MSGLAB", testPassword, ch), false},
		{"truncated", authenticateMessage("svc-exchops", "MSGLAB", testPassword, ch)[:70], false},
		{"not ntlm", []byte("hello"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := verifyNTLMAuthenticate(tt.msg, ch, u)
			if ok != tt.ok || (ok && a.name != testUser) {
				t.Errorf("got %v %q, want %v", ok, a.name, tt.ok)
			}
		})
	}
}

func TestNTLMChallengeIsOneUse(t *testing.T) {
	var n ntlmChallenges
	now := time.Unix(1700000000, 0)
	challengeOf := func(msg []byte) [8]byte {
		var c [8]byte
		copy(c[:], msg[24:32])
		return c
	}
	msg := n.newChallenge("127.0.0.1:5000", "EX10-MB01", "MSGLAB", now, 0)
	if ntlmMessageType(msg) != 2 {
		t.Fatalf("challenge message type %d", ntlmMessageType(msg))
	}
	mine := challengeOf(msg)
	answers := func(c [8]byte) bool { return c == mine }
	if n.takeVerified("10.0.0.9:5000", now, answers) {
		t.Error("a challenge was taken by another host")
	}
	if n.takeVerified("127.0.0.1:5000", now, func([8]byte) bool { return false }) {
		t.Error("a response that does not verify was accepted")
	}
	// Another connection of the same client (a pooled HTTP connection) may answer it.
	if !n.takeVerified("127.0.0.1:5001", now, answers) {
		t.Error("the challenge was not found from the client's other connection")
	}
	if n.takeVerified("127.0.0.1:5000", now, answers) {
		t.Error("a challenge was used twice")
	}
	mine = challengeOf(n.newChallenge("127.0.0.1:5000", "EX10-MB01", "MSGLAB", now, 0))
	if n.takeVerified("127.0.0.1:5000", now.Add(ntlmChallengeTTL+time.Second), answers) {
		t.Error("an expired challenge was accepted")
	}
}

func FuzzParseNTLMAuthenticate(f *testing.F) {
	f.Add(authenticateMessage("svc-exchops", "MSGLAB", testPassword, [8]byte{}))
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, ok := parseNTLMAuthenticate(msg)
		if ok && len(a.ntResponse) > len(msg) {
			t.Fatalf("response longer than the message")
		}
		verifyNTLMAuthenticate(msg, [8]byte{}, newUsers(map[string]string{"svc-exchops": "x"}))
	})
}

package runners

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/exchops/exchops/lab/wsman"
)

// TestRedacted: what a viewer is told of a run that could not reach or use a server
// names the server and the kind of failure, and none of what the administrators'
// message names: the endpoint's URL, the account, the auth method, the password's
// variable. The lab gives the real messages.
func TestRedacted(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	ep := l.endpoint("EX10-MB01")
	ep.Auth, ep.AllowUnencrypted, ep.Password = AuthNTLM, true, "Wr0ng-Passw0rd-123"
	_, unauthorized := newRunner(t, Options{}, ep).Run(context.Background(), "EX10-MB01", "ok")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, unreachable := newRunner(t, Options{}, Endpoint{Name: "EX10-MB02", Address: "127.0.0.1", Port: port, User: labUser, Password: labPassword}).
		Run(context.Background(), "EX10-MB02", "ok")

	secrets := []string{labUser, "svc-exchops", "WINRM_PASSWORD", "ntlm", "NTLM", "127.0.0.1", strconv.Itoa(port), "/wsman", "http"}
	for _, tc := range []struct {
		name string
		err  error
		kind Kind
		want string
	}{
		{"unauthorized", unauthorized, Unauthorized, "EX10-MB01: the server refused exchops' credentials (unauthorized). The exchops administrators see the details."},
		{"unreachable", unreachable, Unreachable, "EX10-MB02: exchops could not reach the server (unreachable). The exchops administrators see the details."},
		{"wrapped", fmt.Errorf("step 1 of 2 on EX10-MB01 (reading): %w", unauthorized), Unauthorized, "EX10-MB01: the server refused exchops' credentials"},
		{"rbac", &Error{Kind: RBAC, Server: "EX10-CAHT", Msg: `EX10-CAHT: the Exchange endpoint does not let MSGLAB\svc-exchops run Get-Foo`}, RBAC, "EX10-CAHT: the server's Exchange endpoint refused the command (refused by RBAC)"},
		{"rbac, the cmdlet named", &Error{Kind: RBAC, Server: "EX10-CAHT", Op: "Get-Queue", Msg: `EX10-CAHT: the Exchange endpoint does not let MSGLAB\svc-exchops run Get-Queue`}, RBAC, "EX10-CAHT: the server's Exchange endpoint refused Get-Queue (refused by RBAC)"},
		{"busy", &Error{Kind: Busy, Server: "EX10-CAHT", Msg: `EX10-CAHT: WinRM refused a new shell for MSGLAB\svc-exchops`}, Busy, "try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if KindOf(tc.err) != tc.kind {
				t.Fatalf("the run failed with %v (%s), want %s", tc.err, KindOf(tc.err), tc.kind)
			}
			got := Redacted(tc.err)
			if !strings.HasPrefix(got, tc.want) && !strings.Contains(got, tc.want) {
				t.Errorf("Redacted = %q, want %q", got, tc.want)
			}
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redacted = %q names %q", got, s)
				}
			}
		})
	}
	// What the command itself did is not about the connection: it is told in full.
	failed := &Error{Kind: ScriptFailed, Server: "EX10-CAHT", Msg: "EX10-CAHT: Get-MailboxDatabaseCopyStatus failed: Couldn't find database MB09."}
	if got := Redacted(failed); got != failed.Msg {
		t.Errorf("Redacted(script failed) = %q, want the message", got)
	}
	if got := Redacted(errors.New("MB09 is not a database")); got != "MB09 is not a database" {
		t.Errorf("Redacted(another error) = %q", got)
	}
}

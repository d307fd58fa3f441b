package ps

import (
	"bytes"
	"context"
	"testing"
)

// TestNoMemberEnumeration: PowerShell 2.0 (Exchange 2010's) has no member
// enumeration, so $array.Prop is $null there. The lab must refuse to make a script
// work that would silently read nothing on a real server.
func TestNoMemberEnumeration(t *testing.T) {
	cases := []struct{ script, want string }{
		{"$a = @('x','yy'); $a.Length", "2\r\n"},
		{"$a = @('x','yy'); $a.Count", "2\r\n"},
		{"$a = @('x','yy'); [string]($a.Length -eq 2)", "True\r\n"},
		{"$o = Get-Thing; [string]($null -eq $o.Name)", "True\r\n"},
		{"$o = Get-Thing; ($o | ForEach-Object { $_.Name }) -join ','", "a,b\r\n"},
		{"$o = Get-Thing; $o[1].Name", "b\r\n"},
	}
	thing := &Cmdlet{Name: "Get-Thing", Invoke: func(c *Call) error {
		c.Write(NewObject("Thing", "Name", "a"))
		c.Write(NewObject("Thing", "Name", "b"))
		return nil
	}}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		s := NewSession(Config{Stdout: &out, Stderr: &errb, Commands: []*Cmdlet{thing}})
		if code := s.Run(context.Background(), tc.script); code != 0 {
			t.Errorf("%s: exit %d, stderr %q", tc.script, code, errb.String())
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%s: stdout %q, want %q", tc.script, out.String(), tc.want)
		}
	}
}

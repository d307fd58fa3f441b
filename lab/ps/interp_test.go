package ps

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src, msg, id string
	}{
		{"if ($true) {", "Missing closing '}' in statement block.", "MissingEndCurlyBrace"},
		{"$a = 1 2", "Unexpected token '2' in expression or statement.", "UnexpectedToken"},
		{"'abc", "The string starting:\r\nAt line:1 char:1\r\n+  <<<< 'abc\r\nis missing the terminator: '.", "TerminatorExpectedAtEndOfString"},
		{"\"abc", "The string starting:\r\nAt line:1 char:1\r\n+  <<<< \"abc\r\nis missing the terminator: \".", "TerminatorExpectedAtEndOfString"},
		{"‘abc", "The string starting:\r\nAt line:1 char:1\r\n+  <<<< ‘abc\r\nis missing the terminator: '.", "TerminatorExpectedAtEndOfString"},
		{"Get-X |", "Empty pipe element is not allowed.", "EmptyPipeElement"},
		{"Get-X | 'a'", "Expressions are only allowed as the first element of a pipeline.", "ExpressionsMustBeFirstInPipeline"},
		{"try { 1 }", "The Try statement is missing its Catch or Finally block.", "MissingCatchOrFinally"},
		{"1 = 2", "Unexpected token '=' in expression or statement.", "UnexpectedToken"},
		{"(1 + 2", "Missing closing ')' in expression.", "MissingEndParenthesisInExpression"},
		{"$x.Foo(1", "Missing ')' in method call.", "MissingEndParenthesisInMethodCall"},
		{"@{a 1}", "Missing '=' operator after key in hash literal.", "MissingEqualsInHashLiteral"},
		{"1 -eq", "You must provide a value expression on the right-hand side of the '-eq' operator.", "ExpectedValueExpression"},
		{"[int", "Missing ] at end of attribute or type literal.", "EndSquareBracketExpectedAtEndOfAttribute"},
		{"foreach ($x 1) {}", "Missing 'in' after variable in foreach loop.", "MissingInInForeach"},
		{"}", "Unexpected token '}' in expression or statement.", "UnexpectedToken"},
		{strings.Repeat("(", 500), "The script is nested too deeply to be parsed.", "NestingTooDeep"},
	}
	for _, tt := range tests {
		_, err := parseScript(tt.src)
		if err == nil {
			t.Errorf("parse %q: no error, want %q", tt.src, tt.msg)
			continue
		}
		if err.msg != tt.msg || err.id != tt.id {
			t.Errorf("parse %q:\n got %q (%s)\nwant %q (%s)", tt.src, err.msg, err.id, tt.msg, tt.id)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, src := range []string{
		"Get-X -Name:value -Switch:$false C:\\FSW Multicast 10.0.0.50 E14-DAG",
		"$a = @{Name='x'; Expression={ $_.Y }}\n$a",
		"& 'dnscmd.exe' 'a' `\n 'b'",
		". (Join-Path $env:X 'y')",
		"<# block\ncomment #> 'x' # trailing",
		"if (1) { } elseif (2) { } else { }",
		"do { } while ($false)",
		"try { } catch [System.Exception] { } finally { }",
		"$x = @'\nhere 'string'\n'@",
		"$x = @\"\nhere $y\n\"@",
		"'it''s', ‘it’’s’, \"say \"\"hi\"\"\", \"`$escaped `n\"",
		"$h.Keys | % { $_ } | ? { $_ }",
		"$i++; $i--; ++$i",
		"[Console]::Error.WriteLine('x')",
		"Get-X –Name value", // en dash, as chat clients paste it
	} {
		if _, err := parseScript(src); err != nil {
			t.Errorf("parse %q: %s", src, err.msg)
		}
	}
}

func TestArgumentMode(t *testing.T) {
	body, err := parseScript(`Set-X C:\FSW -Mode Multicast -IP 10.0.0.50 -Name:E14-DAG -Flag:$false 5 a,b 'q' $v.Name`)
	if err != nil {
		t.Fatal(err.msg)
	}
	cmd := body[0].(*pipelineStmt).elems[0].(*commandNode)
	if cmd.name != "Set-X" {
		t.Fatalf("name %q", cmd.name)
	}
	type want struct {
		param string
		colon bool
		value any
	}
	wants := []want{{"", false, `C:\FSW`}, {"Mode", false, nil}, {"", false, "Multicast"}, {"IP", false, nil},
		{"", false, "10.0.0.50"}, {"Name", true, "E14-DAG"}, {"Flag", true, "$false"}, {"", false, 5}, {"", false, "array"},
		{"", false, "q"}, {"", false, "member"}}
	if len(cmd.args) != len(wants) {
		t.Fatalf("got %d args, want %d", len(cmd.args), len(wants))
	}
	for i, w := range wants {
		a := cmd.args[i]
		if a.param != w.param || a.colon != w.colon {
			t.Errorf("arg %d: param %q colon %v, want %q %v", i, a.param, a.colon, w.param, w.colon)
		}
		switch v := a.value.(type) {
		case *constExpr:
			if v.v != w.value {
				t.Errorf("arg %d: value %#v, want %#v", i, v.v, w.value)
			}
		case *varExpr:
			if "$"+v.name != w.value {
				t.Errorf("arg %d: variable %q, want %v", i, v.name, w.value)
			}
		case *arrayExpr:
			if w.value != "array" {
				t.Errorf("arg %d: array, want %v", i, w.value)
			}
		case *memberExpr:
			if w.value != "member" {
				t.Errorf("arg %d: member, want %v", i, w.value)
			}
		case nil:
			if w.value != nil {
				t.Errorf("arg %d: no value, want %v", i, w.value)
			}
		}
	}
}

// eval runs a script and returns what it wrote, with Windows line ends removed.
func evalScript(t *testing.T, script string) (string, string, int) {
	t.Helper()
	out, errs, code, _ := runScript(t, script)
	return strings.ReplaceAll(out, "\r\n", "\n"), strings.ReplaceAll(errs, "\r\n", "\n"), code
}

func TestEvaluation(t *testing.T) {
	tests := []struct{ src, want string }{
		{"1 + 2 * 3", "7"},
		{"(1 + 2) * 3", "9"},
		{"'5' + 5", "55"},
		{"5 + '5'", "10"},
		{"10 / 4", "2.5"},
		{"-not 0", "True"},
		{"$x = Get-NlbCluster; $x.Name", "CASNLB"},
		{"$x = Get-MailboxDatabaseCopyStatus; $x.Count", "2"},
		{"$x = Get-MailboxDatabaseCopyStatus | Where-Object { $_.Status -eq 'nothing' }; $x -eq $null", "True"},
		{"$x = @(Get-NlbCluster); $x.Count", "1"},
		{"$a = 1, 2; $a += 3; $a.Count", "3"},
		{"'abc' -like 'A*C'", "True"},
		{"'abc' -clike 'A*C'", "False"},
		{"'abc' -ceq 'ABC'", "False"},
		{"1, 2, 3 -contains 2", "True"},
		{"'a' -notcontains 'b'", "True"},
		{"if ('') { 'yes' } else { 'no' }", "no"},
		{"if (@()) { 'yes' } else { 'no' }", "no"},
		{"if ('False') { 'yes' } else { 'no' }", "yes"},
		{"[string](1, 2, 3)", "1 2 3"},
		{"[int]2.5; [int]3.5", "2\n4"},
		{"$X = 'case'; $x", "case"},
		{"get-nlbcluster | select-object -expandproperty NAME", "CASNLB"},
		{"$env:computername", "EX10-CAHT"},
		{"$env:NOPE -eq $null", "True"},
		{"'x' | ForEach-Object { $_ + '!' }", "x!"},
	}
	for _, tt := range tests {
		out, errs, _ := evalScript(t, tt.src)
		if strings.TrimRight(out, "\n") != tt.want || errs != "" {
			t.Errorf("%s\n got %q (stderr %q)\nwant %q", tt.src, out, errs, tt.want)
		}
	}
}

func TestErrorRecordInCatch(t *testing.T) {
	out, _, code := evalScript(t, `try { throw 'boom' } catch { $_.Exception.Message; $_.FullyQualifiedErrorId; [string]$_; $_.CategoryInfo.Category }
try { Get-Nothing } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo }
try { [int]'abc' } catch { $_.Exception.Message }`)
	want := "boom\nboom\nboom\nOperationStopped\nCommandNotFoundException\nObjectNotFound: (Get-Nothing:String) [], CommandNotFoundException\n" +
		"Cannot convert value \"abc\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"\n"
	if out != want || code != 0 {
		t.Errorf("got %q (exit %d)\nwant %q", out, code, want)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		src  string
		code int
	}{
		{"'ok'", 0},
		{"exit 7", 7},
		{"try { exit 4 } catch { exit 5 }", 4},
		{"throw 'x'", 1},
		{"Write-Error 'x'", 1},
		{"Write-Error 'x'; 'fine'", 0},
		{"'a' 'b'", 1},
		{"$ErrorActionPreference = 'Stop'; Write-Error 'x'; exit 0", 1},
	}
	for _, tt := range tests {
		if _, _, code := evalScript(t, tt.src); code != tt.code {
			t.Errorf("%q: exit %d, want %d", tt.src, code, tt.code)
		}
	}
}

func TestToString(t *testing.T) {
	o := NewObject("X.Y", "Name", "n")
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""}, {true, "True"}, {false, "False"}, {42, "42"}, {-3, "-3"}, {2.5, "2.5"}, {"s", "s"},
		{time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), "11/25/2026 10:00:00"},
		{[]any{"a", 1, nil, true}, "a 1  True"}, {o, "X.Y"}, {&Object{TypeName: "T", Str: "str"}, "str"},
		{&Hashtable{}, "System.Collections.Hashtable"},
	}
	for _, tt := range tests {
		if got := ToString(tt.v); got != tt.want {
			t.Errorf("ToString(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestIdentity(t *testing.T) {
	if got := Identity(NewObject("T", "Name", "MB01")); got != "MB01" {
		t.Errorf("Identity by Name = %q", got)
	}
	if got := Identity(NewObject("T", "Identity", "EX10-MB01\\MB01", "Name", "MB01")); got != "EX10-MB01\\MB01" {
		t.Errorf("Identity by Identity = %q", got)
	}
	if got := Identity("E14-DAG"); got != "E14-DAG" {
		t.Errorf("Identity of string = %q", got)
	}
}

func TestDefine(t *testing.T) {
	var out bytes.Buffer
	s := NewSession(Config{Stdout: &out})
	if s.Defined("Get-Mailbox") {
		t.Fatal("Get-Mailbox defined before Define")
	}
	if !s.Defined("select-object") || !s.Defined("%") {
		t.Fatal("built-ins missing")
	}
	s.Define(&Cmdlet{Name: "Get-Mailbox", Invoke: func(c *Call) error { c.Write("one"); return nil }})
	s.Define(&Cmdlet{Name: "Get-Mailbox", Invoke: func(c *Call) error { c.Write("two"); return nil }})
	if code := s.Run(context.Background(), "Get-Mailbox"); code != 0 || out.String() != "two\r\n" {
		t.Errorf("exit %d, output %q; want the later definition", code, out.String())
	}
}

func TestVariablesPersistAcrossRuns(t *testing.T) {
	var out bytes.Buffer
	s := NewSession(Config{Stdout: &out})
	s.Run(context.Background(), "$kept = 'yes'")
	s.Run(context.Background(), "$kept")
	if out.String() != "yes\r\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestCancelledRunStops(t *testing.T) {
	for _, script := range []string{"while ($true) {}", "do { } until ($false)", "for (;;) { $i++ }", "Start-Sleep -Seconds 3600"} {
		var errb bytes.Buffer
		s := NewSession(Config{Stderr: &errb})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		done := make(chan int, 1)
		go func() { done <- s.Run(ctx, script) }()
		select {
		case code := <-done:
			if code != 1 || !strings.Contains(errb.String(), "The pipeline has been stopped.") {
				t.Errorf("%q: exit %d, stderr %q", script, code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q did not stop after its context ended", script)
		}
		cancel()
	}
}

func TestRunawayScriptIsBounded(t *testing.T) {
	_, errs, code := evalScript(t, "$f = { & $f }; & $f")
	if code != 1 || !strings.Contains(errs, "call depth overflow") {
		t.Errorf("recursion: exit %d, stderr %q", code, errs)
	}
	_, errs, code = evalScript(t, "$s = 'x'; while ($true) { $s += $s }")
	if code != 1 || !strings.Contains(errs, "larger than") {
		t.Errorf("growth: exit %d, stderr %q", code, errs)
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"ex10-*", "EX10-MB01", true}, {"ex10-?b0[12]", "EX10-MB02", true}, {"ex10-?b0[12]", "EX10-MB03", false},
		{"*mb*", "EX10-MB01", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}, {"[a-c]x", "bx", true},
		{"`*", "*", true}, {"`*", "a", false}, {"abc", "ab", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pat, tt.s, false); got != tt.want {
			t.Errorf("%q -like %q = %v, want %v", tt.s, tt.pat, got, tt.want)
		}
	}
}

func TestSelfReferenceDoesNotRecurseForever(t *testing.T) {
	_, _, code := evalScript(t, "$a = 1, 2; $a[0] = $a; $a; \"$a\"; $a.Foo; $a | Out-String")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestWildcardLongInputUsesLinearMatcher(t *testing.T) {
	long := strings.Repeat("a", 1<<12)
	for _, tt := range []struct {
		pat  string
		want bool
	}{{"*a*a*a*b", false}, {"a*[a-c]", true}, {"`*" + long, false}} {
		if got := wildcardMatch(tt.pat+strings.Repeat("*", 300), long, false); got != tt.want {
			t.Errorf("%q: got %v", tt.pat, got)
		}
	}
}

func TestPanickingCmdletFailsTheScriptNotTheHost(t *testing.T) {
	var errb bytes.Buffer
	s := NewSession(Config{Stderr: &errb, Commands: []*Cmdlet{{Name: "Get-Broken", Invoke: func(*Call) error { panic("boom") }}}})
	if code := s.Run(context.Background(), "Get-Broken"); code != 1 || !strings.Contains(errb.String(), "boom") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

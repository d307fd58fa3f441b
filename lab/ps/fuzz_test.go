package ps

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// fuzzSeeds are scripts worth mutating: the generator's own shape and the quoting
// corners chat values bring.
var fuzzSeeds = []string{
	"'it''s'", "‘it’’s’", "‚x‛", "“dq”", "\"a`\"b\"", "\"$(1 + $(2))\"", "{ { { } } }", "@{a={ $_ }; b=@(1,2)}",
	"Get-X -Name:'v' C:\\FSW 10.0.0.50 -Switch:$false | Select-Object @{N='n';E={[int]$_.x}} | ConvertTo-Csv",
	"& dnscmd.exe 'DC01' '/recordadd'\nif ($LASTEXITCODE -ne 0) { throw ('failed ' + $LASTEXITCODE) }",
	"try { throw 'x' } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 } finally { }",
	"foreach ($i in 1..3) { while ($i -lt 5) { $i++ } }", "$x = @'\nhere\n'@", "`\n", "<# #>", "$a[0].b.c(1, 2)[-1]",
}

func FuzzParse(f *testing.F) {
	if doc, err := os.ReadFile("testdata/scripts/docs_example.ps1"); err == nil {
		f.Add(string(doc))
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		body, perr := parseScript(src)
		if perr == nil && body == nil && len(src) > 0 {
			// An empty body is fine (comments, blanks); nothing to check.
			return
		}
		if perr != nil && perr.msg == "" {
			t.Fatalf("parse error without a message for %q", src)
		}
	})
}

func FuzzRun(f *testing.F) {
	if doc, err := os.ReadFile("testdata/scripts/docs_example.ps1"); err == nil {
		f.Add(string(doc))
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, _ := fakeOrg()
		cfg.Stdout, cfg.Stderr = io.Discard, io.Discard
		s := NewSession(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		// Run on the test's goroutine so a panic is reported against its input;
		// a script that ignores the deadline trips the fuzzer's hang detection.
		start := time.Now()
		s.Run(ctx, src)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("script ran %v past a 50ms deadline: %q", d, src)
		}
	})
}

package lab_test

import (
	"slices"
	"testing"

	"github.com/exchops/exchops/lab"
)

// TestEnvNamesTheLabsServers: every server lab.Env names is one the lab runs (so a
// plan for it reaches an endpoint), the management and DNS servers among them.
func TestEnvNamesTheLabsServers(t *testing.T) {
	l, err := lab.Start(lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var running []string
	for _, e := range l.RunnerEndpoints() {
		running = append(running, e.Name)
	}
	env := lab.Env()
	named := []string{env.ManagementServer, env.DNSServer}
	for _, s := range env.Servers {
		named = append(named, s.Name)
	}
	for _, n := range named {
		if !slices.Contains(running, n) {
			t.Errorf("lab.Env names %s, which the lab does not run (it runs %v)", n, running)
		}
	}
	env.Servers[0].Name = "changed"
	if lab.Env().Servers[0].Name == "changed" {
		t.Error("lab.Env shares its servers between calls")
	}
}

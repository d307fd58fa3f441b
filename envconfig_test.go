package main

import (
	"testing"
	"time"

	"github.com/exchops/exchops/config"
)

// Planning judges queues by the configuration's health section, the same values the
// health report uses, not a second constant, and limits seeds by exchange.seed_timeout.
func TestEnvFromConfigCarriesQueueLimits(t *testing.T) {
	c := config.Default()
	if env := envFromConfig(c); env.CopyLimit() != 8 || env.ReplayLimit() != 8 {
		t.Errorf("default configuration: limits %d/%d, want 8/8", env.CopyLimit(), env.ReplayLimit())
	}
	c.Health.CopyQueue, c.Health.ReplayQueue = 20, 30
	if env := envFromConfig(c); env.CopyLimit() != 20 || env.ReplayLimit() != 30 {
		t.Errorf("health.copy_queue 20, health.replay_queue 30: limits %d/%d", env.CopyLimit(), env.ReplayLimit())
	}
	c.Exchange.SeedTimeout = config.Duration(36 * time.Hour)
	if env := envFromConfig(c); env.SeedLimit() != 36*time.Hour {
		t.Errorf("exchange.seed_timeout 36h: seed limit %s", env.SeedLimit())
	}
}

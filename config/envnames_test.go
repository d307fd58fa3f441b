package config

import (
	"errors"
	"strings"
	"testing"
)

// TestEnvKeysHoldNames: every *_env key must hold an environment variable's name. A
// secret written there instead is refused at its key, and the problem never repeats
// it (config check's output goes to terminals and CI logs).
func TestEnvKeysHoldNames(t *testing.T) {
	const secret = "Qq7#pa55-w0rd!"
	keys := []struct{ key, yaml string }{
		{"exchange.winrm.password_env", "exchange: {winrm: {password_env: '%s'}}\n"},
		{"slack.signing_secret_env", "slack: {signing_secret_env: '%s'}\n"},
		{"slack.bot_token_env", "slack: {bot_token_env: '%s'}\n"},
		{"slack.app_token_env", "slack: {app_token_env: '%s'}\n"},
		{"discord.bot_token_env", "discord: {bot_token_env: '%s'}\n"},
	}
	for _, k := range keys {
		for _, bad := range []string{secret, "xoxb-1234-5678-abcdef", "1PASSWORD", "WINRM PASSWORD", "WINRM-PASSWORD", "A=B", "ПАРОЛЬ"} {
			_, err := Parse(strings.NewReader(strings.Replace(k.yaml, "%s", bad, 1)), nil)
			var probs Problems
			if !errors.As(err, &probs) {
				t.Errorf("%s: %q: %v, want problems", k.key, bad, err)
				continue
			}
			found := false
			for _, p := range probs {
				if p.Key == k.key && strings.Contains(p.Msg, "not the name of an environment variable") &&
					strings.Contains(p.Msg, "letters, digits and underscores not starting with a digit") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: %q: no problem at the key saying what a name is:\n%v", k.key, bad, err)
			}
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: the problem repeats the value %q:\n%v", k.key, bad, err)
			}
		}
		for _, good := range []string{"WINRM_PASSWORD", "_X", "exchops_token2"} {
			_, err := Parse(strings.NewReader(strings.Replace(k.yaml, "%s", good, 1)), nil)
			if err != nil && strings.Contains(err.Error(), k.key) {
				t.Errorf("%s: %q refused: %v", k.key, good, err)
			}
		}
	}
	// The same from the environment's override.
	_, err := Parse(strings.NewReader(""), []string{"EXCHOPS_EXCHANGE_WINRM_PASSWORD_ENV=" + secret})
	if err == nil || !strings.Contains(err.Error(), "exchange.winrm.password_env: is not the name") || strings.Contains(err.Error(), secret) {
		t.Errorf("override with a secret: %v", err)
	}
}

func TestIsEnvName(t *testing.T) {
	for s, want := range map[string]bool{
		"WINRM_PASSWORD": true, "_": true, "a1": true, "A_1_b": true,
		"": false, "1A": false, "A-B": false, "A B": false, "A.B": false, "É": false, "A\x00": false, "$A": false,
	} {
		if got := IsEnvName(s); got != want {
			t.Errorf("IsEnvName(%q) = %v, want %v", s, got, want)
		}
	}
}

package slack

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
)

// TestNewValidates: a configuration that cannot work is refused with the config key
// to fix, and the error never carries a secret.
func TestNewValidates(t *testing.T) {
	rig := bottest.NewRig(t, bottest.Options{})
	db, core := rig.DB, rig.Core
	ok := Config{Core: core, SigningSecret: testSecret, BotToken: testBotToken, Outbox: db, Dedup: db}
	cases := []struct {
		name   string
		change func(c *Config)
		want   string // "" means valid
	}{
		{"http", func(*Config) {}, ""},
		{"socket mode without a signing secret", func(c *Config) { c.SigningSecret, c.AppToken = "", testAppToken }, ""},
		{"no bot token", func(c *Config) { c.BotToken = "" }, "slack.bot_token_env"},
		{"no signing secret over HTTP", func(c *Config) { c.SigningSecret = "" }, "slack.signing_secret_env"},
		{"tokens swapped", func(c *Config) { c.BotToken, c.AppToken = testAppToken, testBotToken }, "slack.bot_token_env"},
		{"bot token as app token", func(c *Config) { c.AppToken = testBotToken }, "slack.app_token_env"},
		{"bad API URL", func(c *Config) { c.APIURL = "slack.example.com/api" }, "slack.api_url"},
		{"no core", func(c *Config) { c.Core = nil }, "core"},
		{"no outbox", func(c *Config) { c.Outbox = nil }, "outbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			s, err := New(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", redact(err.Error()))
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("New accepted it; want an error naming %s", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s", redact(msg), tc.want)
			}
			if redact(msg) != msg {
				t.Errorf("the error carries a secret: %s", redact(msg))
			}
		})
	}
}

func TestManifest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		socket bool
		url    string
	}{
		{"http", false, ""},
		{"http-url", false, "https://exchops.msglab.example/"},
		{"socket", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Manifest(tc.socket, tc.url)
			golden.Check(t, "testdata/manifest-"+tc.name+".golden", got)
			var m struct {
				Features struct {
					Commands []map[string]any `yaml:"slash_commands"`
				} `yaml:"features"`
				OAuth struct {
					Scopes struct {
						Bot []string `yaml:"bot"`
					} `yaml:"scopes"`
				} `yaml:"oauth_config"`
				Settings struct {
					Interactivity map[string]any `yaml:"interactivity"`
					SocketMode    bool           `yaml:"socket_mode_enabled"`
				} `yaml:"settings"`
			}
			if err := yaml.Unmarshal([]byte(got), &m); err != nil {
				t.Fatalf("the manifest is not YAML: %v", err)
			}
			if len(m.Features.Commands) != 1 || m.Features.Commands[0]["command"] != "/exchange" || m.Features.Commands[0]["usage_hint"] == "" {
				t.Errorf("slash commands = %v", m.Features.Commands)
			}
			if strings.Join(m.OAuth.Scopes.Bot, " ") != "commands chat:write files:write" {
				t.Errorf("scopes = %v", m.OAuth.Scopes.Bot)
			}
			if m.Settings.SocketMode != tc.socket || m.Settings.Interactivity["is_enabled"] != true {
				t.Errorf("settings = %+v", m.Settings)
			}
			cmdURL, _ := m.Features.Commands[0]["url"].(string)
			interURL, _ := m.Settings.Interactivity["request_url"].(string)
			switch {
			case tc.socket && (cmdURL != "" || interURL != ""):
				t.Errorf("Socket Mode manifest has request URLs %q, %q", cmdURL, interURL)
			case !tc.socket && (!strings.HasSuffix(cmdURL, "/slack/commands") || !strings.HasSuffix(interURL, "/slack/interactions")):
				t.Errorf("HTTP manifest's request URLs: %q, %q", cmdURL, interURL)
			case tc.url != "" && !strings.HasPrefix(cmdURL, "https://exchops.msglab.example/slack/"):
				t.Errorf("the URL given is not used: %q", cmdURL)
			}
		})
	}
}

package slack

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Scopes are the bot token scopes exchops needs: the slash command, posting and
// updating messages, and attaching long scripts and outputs as files.
var Scopes = []string{"commands", "chat:write", "files:write"}

// requestURLPlaceholder stands in for exchops' public address in an HTTP-mode manifest
// printed without one.
const requestURLPlaceholder = "https://exchops.example.com"

// Manifest is the Slack app manifest (YAML) for exchops: the /exchange slash command,
// interactivity for the approval cards' buttons, the bot scopes, and Socket Mode on or
// off. In HTTP mode the request URLs point at requestURL (exchops' public base URL; a
// placeholder to replace when it is ""); in Socket Mode Slack needs none.
func Manifest(socketMode bool, requestURL string) string {
	base := strings.TrimRight(strings.TrimSpace(requestURL), "/")
	if base == "" {
		base = requestURLPlaceholder
	}
	cmd := manifestCommand{
		Command:      "/exchange",
		Description:  "Exchange 2010 high availability, with two-person approval",
		UsageHint:    "dag status E14-DAG | copy add MB01 EX10-MB02 | requests | help",
		ShouldEscape: false,
	}
	inter := manifestInteractivity{IsEnabled: true}
	if !socketMode {
		cmd.URL = base + "/slack/commands"
		inter.RequestURL = base + "/slack/interactions"
	}
	m := manifest{
		Display: manifestDisplay{
			Name:        "exchops",
			Description: "Exchange 2010 HA from Slack: every change needs a second admin's approval.",
			LongDescription: "exchops plans Exchange 2010 high-availability changes (DAGs, database copies, CAS arrays, NLB, DNS) " +
				"from the /exchange slash command, shows the exact PowerShell and the preflight findings on an approval card, " +
				"and runs the change over WinRM only after a second admin approves it. Read-only commands (health, copy status, " +
				"dag status) answer at once.",
			BackgroundColor: "#1d3557",
		},
		Features: manifestFeatures{
			BotUser:       manifestBotUser{DisplayName: "exchops", AlwaysOnline: true},
			SlashCommands: []manifestCommand{cmd},
		},
		OAuth: manifestOAuth{Scopes: manifestScopes{Bot: Scopes}},
		Settings: manifestSettings{
			Interactivity:       inter,
			OrgDeployEnabled:    false,
			SocketModeEnabled:   socketMode,
			TokenRotationEnable: false,
		},
	}
	var b strings.Builder
	b.WriteString("# Slack app manifest for exchops: create the app from it at https://api.slack.com/apps\n")
	if socketMode {
		b.WriteString("# Socket Mode: no public endpoint. Create an app-level token with connections:write\n")
		b.WriteString("# and name its environment variable in slack.app_token_env.\n")
	} else if base == requestURLPlaceholder {
		b.WriteString("# HTTP mode: replace " + requestURLPlaceholder + " with exchops' public address (or pass --url).\n")
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		// The manifest is built from constants and a URL: it always encodes.
		panic("slack: encoding the manifest: " + err.Error())
	}
	_ = enc.Close()
	return b.String()
}

type manifest struct {
	Display  manifestDisplay  `yaml:"display_information"`
	Features manifestFeatures `yaml:"features"`
	OAuth    manifestOAuth    `yaml:"oauth_config"`
	Settings manifestSettings `yaml:"settings"`
}

type manifestDisplay struct {
	Name            string `yaml:"name"`
	Description     string `yaml:"description"`
	LongDescription string `yaml:"long_description"`
	BackgroundColor string `yaml:"background_color"`
}

type manifestFeatures struct {
	BotUser       manifestBotUser   `yaml:"bot_user"`
	SlashCommands []manifestCommand `yaml:"slash_commands"`
}

type manifestBotUser struct {
	DisplayName  string `yaml:"display_name"`
	AlwaysOnline bool   `yaml:"always_online"`
}

type manifestCommand struct {
	Command      string `yaml:"command"`
	URL          string `yaml:"url,omitempty"`
	Description  string `yaml:"description"`
	UsageHint    string `yaml:"usage_hint"`
	ShouldEscape bool   `yaml:"should_escape"`
}

type manifestOAuth struct {
	Scopes manifestScopes `yaml:"scopes"`
}

type manifestScopes struct {
	Bot []string `yaml:"bot"`
}

type manifestSettings struct {
	Interactivity       manifestInteractivity `yaml:"interactivity"`
	OrgDeployEnabled    bool                  `yaml:"org_deploy_enabled"`
	SocketModeEnabled   bool                  `yaml:"socket_mode_enabled"`
	TokenRotationEnable bool                  `yaml:"token_rotation_enabled"`
}

type manifestInteractivity struct {
	IsEnabled  bool   `yaml:"is_enabled"`
	RequestURL string `yaml:"request_url,omitempty"`
}

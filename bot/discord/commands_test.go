package discord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
)

// TestCommandsGolden: the registered /exchange, generated from the catalog, is
// reviewed like code. After changing the catalog: go test ./bot/discord -run Golden -update.
func TestCommandsGolden(t *testing.T) {
	b, err := json.MarshalIndent(Commands(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/commands.golden", string(b)+"\n")
}

// TestCommandsFollowCatalog: every catalog command is a subcommand with every argument
// as an option, within Discord's limits, required options first.
func TestCommandsFollowCatalog(t *testing.T) {
	cmds := Commands()
	if len(cmds) != 1 || cmds[0].Name != CommandName {
		t.Fatalf("commands = %v, want one /exchange", cmds)
	}
	name := regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)
	checkDesc := func(what, d string) {
		if n := utf8.RuneCountInString(d); n < 1 || n > maxDescription {
			t.Errorf("%s: description of %d characters: %q", what, n, d)
		}
	}
	checkDesc("/exchange", cmds[0].Description)
	if len(cmds[0].Options) > maxOptions {
		t.Errorf("/exchange has %d subcommands and groups, Discord takes %d", len(cmds[0].Options), maxOptions)
	}
	found := map[string]*discordgo.ApplicationCommandOption{}
	for _, o := range cmds[0].Options {
		if !name.MatchString(o.Name) {
			t.Errorf("bad name %q", o.Name)
		}
		checkDesc(o.Name, o.Description)
		switch o.Type {
		case discordgo.ApplicationCommandOptionSubCommand:
			found[o.Name] = o
		case discordgo.ApplicationCommandOptionSubCommandGroup:
			if len(o.Options) > maxOptions {
				t.Errorf("group %s has %d subcommands", o.Name, len(o.Options))
			}
			for _, s := range o.Options {
				if s.Type != discordgo.ApplicationCommandOptionSubCommand {
					t.Errorf("%s %s is not a subcommand", o.Name, s.Name)
				}
				checkDesc(o.Name+" "+s.Name, s.Description)
				found[o.Name+" "+s.Name] = s
			}
		default:
			t.Errorf("/exchange %s is neither a subcommand nor a group", o.Name)
		}
	}
	specs := commands.Catalog()
	if len(found) != len(specs) {
		t.Errorf("%d subcommands for %d catalog commands", len(found), len(specs))
	}
	for _, s := range specs {
		key := s.Name
		if g := s.Group(); g != "" {
			key = g + " " + s.Subcommand() // "dag maintenance-start": Discord nests once
		}
		sub := found[key]
		if sub == nil {
			t.Errorf("%s is not a subcommand", s.Name)
			continue
		}
		if len(sub.Options) != len(s.Args) || len(sub.Options) > maxOptions {
			t.Errorf("%s: %d options for %d arguments", s.Name, len(sub.Options), len(s.Args))
		}
		optional := false
		for _, o := range sub.Options {
			a := s.Arg(o.Name)
			if a == nil || !name.MatchString(o.Name) {
				t.Errorf("%s: option %q is not an argument", s.Name, o.Name)
				continue
			}
			checkDesc(s.Name+" "+o.Name, o.Description)
			if o.Required != a.Required {
				t.Errorf("%s %s: required %v, argument says %v", s.Name, o.Name, o.Required, a.Required)
			}
			if o.Required && optional {
				t.Errorf("%s: required option %s after an optional one", s.Name, o.Name)
			}
			optional = optional || !o.Required
			wantType := discordgo.ApplicationCommandOptionString
			if a.Kind == commands.KindInt {
				wantType = discordgo.ApplicationCommandOptionInteger
				if o.MinValue == nil || *o.MinValue != float64(a.Min) || o.MaxValue != float64(a.Max) {
					t.Errorf("%s %s: range not %d..%d", s.Name, o.Name, a.Min, a.Max)
				}
			}
			if o.Type != wantType {
				t.Errorf("%s %s: type %v, want %v", s.Name, o.Name, o.Type, wantType)
			}
			if len(o.Choices) != len(a.Choices) || len(o.Choices) > maxChoices {
				t.Errorf("%s %s: %d choices for %d", s.Name, o.Name, len(o.Choices), len(a.Choices))
			}
		}
	}
}

// TestRoundTrip: for every catalog example, the options a Discord client sends become
// command text that parses to the same canonical command.
func TestRoundTrip(t *testing.T) {
	n := 0
	for _, s := range commands.Catalog() {
		for _, ex := range s.Examples {
			want, err := commands.Parse(ex)
			if err != nil {
				t.Fatalf("example %q: %v", ex, err)
			}
			data := roundTrip(t, interactionData(t, ex))
			text, err := commandText(data)
			if err != nil {
				t.Errorf("%q: %v", ex, err)
				continue
			}
			got, err := commands.Parse(text)
			if err != nil {
				t.Errorf("%q -> %q: %v", ex, text, err)
				continue
			}
			if got.Text != want.Text {
				t.Errorf("%q -> %q -> %q, want %q", ex, text, got.Text, want.Text)
			}
			n++
		}
	}
	if n < 20 {
		t.Errorf("only %d examples", n)
	}
}

// roundTrip sends data through JSON as Discord would, so that values have the types a
// real interaction gives them (integers as float64).
func roundTrip(t *testing.T, data discordgo.ApplicationCommandInteractionData) discordgo.ApplicationCommandInteractionData {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": 2, "id": "1", "data": data})
	if err != nil {
		t.Fatal(err)
	}
	var it discordgo.Interaction
	if err := json.Unmarshal(b, &it); err != nil {
		t.Fatal(err)
	}
	return it.ApplicationCommandData()
}

func TestCommandText(t *testing.T) {
	opt := func(name string, v any) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionString, Value: v}
	}
	sub := func(name string, opts ...*discordgo.ApplicationCommandInteractionDataOption) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}
	}
	group := func(name string, s *discordgo.ApplicationCommandInteractionDataOption) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionSubCommandGroup,
			Options: []*discordgo.ApplicationCommandInteractionDataOption{s}}
	}
	data := func(o *discordgo.ApplicationCommandInteractionDataOption) discordgo.ApplicationCommandInteractionData {
		return discordgo.ApplicationCommandInteractionData{Name: CommandName, Options: []*discordgo.ApplicationCommandInteractionDataOption{o}}
	}
	cases := []struct {
		name string
		data discordgo.ApplicationCommandInteractionData
		want string // the text, or the error's start after "ERR "
	}{
		// Options come in any order; the text follows the catalog's.
		{"order", data(group("dag", sub("create", opt("dir", `C:\FSW`), opt("name", "E14-DAG"), opt("witness", "EX10-CAHT")))),
			`dag create name=E14-DAG witness=EX10-CAHT dir=C:\FSW`},
		{"spaces", data(group("casarray", sub("create", opt("name", "CAS Array"), opt("fqdn", "client.msglab.local"), opt("site", "Default-First-Site-Name")))),
			`casarray create name="CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`},
		{"equals sign", data(sub("deny", opt("id", "r-4"), opt("reason", "a=b"))), `deny id=r-4 reason="a=b"`},
		{"integer", data(group("copy", sub("add", opt("database", "MB01"), opt("server", "EX10-MB02"), opt("preference", float64(2))))),
			`copy add database=MB01 server=EX10-MB02 preference=2`},
		{"empty value", data(sub("cancel", opt("id", ""))), `cancel id=""`},
		{"three words", data(group("dag", sub("maintenance-start", opt("server", "EX10-MB01")))), `dag maintenance start server=EX10-MB01`},
		{"no options", data(sub("requests")), `requests`},
		{"double quote", data(sub("deny", opt("id", "r-4"), opt("reason", `he said "no"`))), `ERR deny: reason holds a double quote`},
		{"typographic quote", data(sub("deny", opt("id", "r-4"), opt("reason", "“no”"))), `ERR deny: reason holds a double quote`},
		{"unknown subcommand", data(sub("reboot")), "ERR exchops does not know /exchange reboot"},
		{"unknown option", data(sub("drill", opt("dag", "E14-DAG"), opt("force", "yes"))), "ERR drill has no option force"},
		{"group without subcommand", data(&discordgo.ApplicationCommandInteractionDataOption{Name: "dag", Type: discordgo.ApplicationCommandOptionSubCommandGroup}), "ERR choose a subcommand of /exchange dag"},
		{"another command", discordgo.ApplicationCommandInteractionData{Name: "other"}, "ERR /other is not an exchops command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commandText(tc.data)
			if err != nil {
				got = "ERR " + err.Error()
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if err == nil && tc.name != "empty value" {
				if _, err := commands.Parse(got); err != nil {
					t.Errorf("the text does not parse: %v", err)
				}
			}
		})
	}
}

// TestRegister: register bulk-overwrites the commands, globally or in one server,
// with the bot token, and reports Discord's refusal without the token.
func TestRegister(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.d.Register(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Register(ctx, testGuild); err != nil {
		t.Fatal(err)
	}
	puts := h.fake.Requests("PUT", "applications/")
	if len(puts) != 2 || puts[0].Path != "applications/"+testApp+"/commands" || puts[1].Path != "applications/"+testApp+"/guilds/"+testGuild+"/commands" {
		t.Fatalf("PUTs = %v", puts)
	}
	b, _ := json.Marshal(Commands())
	var got, want any
	json.Unmarshal(b, &want)
	json.Unmarshal(h.fake.Commands(), &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("registered\n%s\nwant\n%s", h.fake.Commands(), b)
	}
	if err := h.d.Register(ctx, "not-a-guild"); err == nil {
		t.Error("a bad guild id was accepted")
	}
	err := RegisterCommands(ctx, Config{BotToken: "wrong-token-value", ApplicationID: testApp, HTTPClient: h.fake.Client()}, "")
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("with a wrong token: %v", err)
	}
	// api_url points the calls elsewhere, with no transport trick.
	err = RegisterCommands(ctx, Config{BotToken: testToken, ApplicationID: testApp, APIURL: h.fake.URL() + "/api/v9"}, testGuild)
	if err != nil {
		t.Errorf("with api_url: %v", err)
	}
}

// FuzzGrammarQuote: whatever a person types into an option, the text either is refused
// (a double quote) or reads back as exactly that value.
func FuzzGrammarQuote(f *testing.F) {
	for _, s := range []string{"not today", "a=b", "", " padded ", "tab\there", "C:\\FSW", "=", "ünïcode ok", "say \"no\"", "“curly”", "x\u00a0y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q, err := grammarQuote(v)
		if err != nil {
			if !strings.ContainsAny(v, "\"\u201C\u201D") {
				t.Fatalf("%q refused: %v", v, err)
			}
			return
		}
		inv, err := commands.Parse("deny id=r-1 reason=" + q)
		if err != nil {
			return // the value breaks the kind's rule (control characters, length): the core says so
		}
		if got, want := inv.Value("reason"), strings.TrimSpace(v); got != want {
			t.Fatalf("%q -> %q -> reason %q, want %q", v, q, got, want)
		}
	})
}

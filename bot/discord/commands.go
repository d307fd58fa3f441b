package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/commands"
)

// CommandName is the one application command: /exchange.
const CommandName = "exchange"

// Discord's limits for application commands.
const (
	maxDescription = 100 // command, group, subcommand and option descriptions
	maxOptions     = 25  // subcommands per command or group, options per subcommand
	maxChoices     = 25
)

// Commands returns /exchange as Discord takes it, generated from the catalog: a
// two-word command is a subcommand of the group named by its first word, a one-word
// command a subcommand of its own; each argument is an option named after it (the
// grammar's key, or the positional argument's name), typed and limited by its kind,
// required ones first as Discord demands.
func Commands() []*discordgo.ApplicationCommand {
	root := &discordgo.ApplicationCommand{
		Type:        discordgo.ChatApplicationCommand,
		Name:        CommandName,
		Description: "Exchange 2010 high availability; every change needs a second admin's approval",
	}
	groups := map[string]*discordgo.ApplicationCommandOption{}
	for _, s := range commands.Catalog() {
		sub := &discordgo.ApplicationCommandOption{
			Type:        discordgo.ApplicationCommandOptionSubCommand,
			Name:        s.Subcommand(),
			Description: describe(s.Summary, s.Name),
			Options:     argOptions(s),
		}
		g := s.Group()
		if g == "" {
			root.Options = append(root.Options, sub)
			continue
		}
		grp := groups[g]
		if grp == nil {
			grp = &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommandGroup, Name: g}
			groups[g] = grp
			root.Options = append(root.Options, grp)
		}
		grp.Options = append(grp.Options, sub)
	}
	for g, grp := range groups {
		names := make([]string, len(grp.Options))
		for i, o := range grp.Options {
			names[i] = o.Name
		}
		grp.Description = describe(g+": "+strings.Join(names, ", "), g)
	}
	return []*discordgo.ApplicationCommand{root}
}

func argOptions(s *commands.Spec) []*discordgo.ApplicationCommandOption {
	var required, optional []*discordgo.ApplicationCommandOption
	for i := range s.Args {
		a := &s.Args[i]
		o := &discordgo.ApplicationCommandOption{
			Type:        discordgo.ApplicationCommandOptionString,
			Name:        a.Name,
			Description: describe(a.Help, a.Kind.Rule()),
			Required:    a.Required,
		}
		if a.OptionType() == "integer" {
			o.Type = discordgo.ApplicationCommandOptionInteger
			if a.Min != 0 || a.Max != 0 {
				lo := float64(a.Min)
				o.MinValue, o.MaxValue = &lo, float64(a.Max)
			}
		}
		if len(a.Choices) > 0 && len(a.Choices) <= maxChoices {
			for _, c := range a.Choices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: c, Value: c})
			}
		}
		if a.Required {
			required = append(required, o)
		} else {
			optional = append(optional, o)
		}
	}
	return append(required, optional...)
}

// describe is a description within Discord's limit; fallback when s is empty.
func describe(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = fallback
	}
	if utf8.RuneCountInString(s) <= maxDescription {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:maxDescription-1])) + "…"
}

// commandText turns the options of an /exchange interaction back into the command text
// the grammar reads, so that the core parses and validates it exactly as typed text.
// Every option becomes key=value (the grammar takes positional arguments by name
// too), with the grammar's double quotes around values holding spaces or '='.
func commandText(data discordgo.ApplicationCommandInteractionData) (string, error) {
	if data.Name != CommandName {
		return "", fmt.Errorf("/%s is not an exchops command; use /%s", data.Name, CommandName)
	}
	if len(data.Options) != 1 {
		return "", fmt.Errorf("choose a subcommand of /%s", CommandName)
	}
	o := data.Options[0]
	name, opts := o.Name, o.Options
	switch o.Type {
	case discordgo.ApplicationCommandOptionSubCommand:
	case discordgo.ApplicationCommandOptionSubCommandGroup:
		if len(o.Options) != 1 || o.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
			return "", fmt.Errorf("choose a subcommand of /%s %s", CommandName, o.Name)
		}
		name += " " + o.Options[0].Name
		opts = o.Options[0].Options
	default:
		return "", fmt.Errorf("choose a subcommand of /%s", CommandName)
	}
	spec := commands.Lookup(name)
	if spec == nil {
		return "", fmt.Errorf("exchops does not know /%s %s: Discord shows commands registered by another version of exchops; an administrator should run `exchops discord register`", CommandName, name)
	}
	given := map[string]string{}
	for _, opt := range opts {
		if spec.Arg(opt.Name) == nil {
			return "", fmt.Errorf("%s has no option %s: Discord shows commands registered by another version of exchops; an administrator should run `exchops discord register`", spec.Name, opt.Name)
		}
		given[opt.Name] = optionValue(opt)
	}
	parts := []string{spec.Name}
	for _, a := range spec.Args {
		v, ok := given[a.Name]
		if !ok {
			continue
		}
		q, err := grammarQuote(v)
		if err != nil {
			return "", fmt.Errorf("%s: %s %w", spec.Name, a.Name, err)
		}
		parts = append(parts, a.Name+"="+q)
	}
	return strings.Join(parts, " "), nil
}

// optionValue is an option's value as text. Discord sends integers as JSON numbers.
func optionValue(o *discordgo.ApplicationCommandInteractionDataOption) string {
	switch v := o.Value.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return fmt.Sprint(o.Value)
}

var errQuote = errors.New("holds a double quote, which the command grammar uses for grouping words and cannot pass on; leave it out")

// grammarQuote writes a value as the grammar reads it back: the tokenizer groups
// with double quotes (ASCII and typographic) and has no escapes, so a value holding
// one cannot be passed at all.
func grammarQuote(v string) (string, error) {
	if strings.ContainsAny(v, "\"\u201C\u201D") {
		return "", errQuote
	}
	if v == "" || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '=' }) >= 0 {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// Register bulk-overwrites /exchange, globally or (guildID) in one server, where
// changes show at once.
func (d *Discord) Register(ctx context.Context, guildID string) error {
	return register(ctx, d.rest, guildID)
}

// RegisterCommands is Register for the command line: it needs only BotToken,
// ApplicationID, APIURL and HTTPClient from cfg.
func RegisterCommands(ctx context.Context, cfg Config, guildID string) error {
	r, err := newREST(cfg)
	if err != nil {
		return err
	}
	return register(ctx, r, guildID)
}

func register(ctx context.Context, r *rest, guildID string) error {
	path := "applications/" + r.appID + "/commands"
	if guildID != "" {
		if !isSnowflake(guildID) {
			return fmt.Errorf("discord: %q is not a server (guild) id: it is a number (Developer Mode, right-click the server, Copy Server ID)", guildID)
		}
		path = "applications/" + r.appID + "/guilds/" + guildID + "/commands"
	}
	body, err := json.Marshal(Commands())
	if err != nil {
		return err
	}
	// Retried inline as the front's posts are: this is a command line, with no outbox
	// to wait in.
	_, err = r.retried(ctx, &call{Method: http.MethodPut, Path: path, Body: body, Key: "registering /" + CommandName})
	return err
}

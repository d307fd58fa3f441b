package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/bot/discord"
	"github.com/exchops/exchops/config"
)

// runDiscordRegister is `exchops discord register`: it bulk-overwrites the /exchange
// application command, generated from the catalog, globally or in one server.
func runDiscordRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("discord register", "exchops discord register [--guild ID] [--config exchops.yaml] [--print]", stderr)
	cfgPath := fs.String("config", "exchops.yaml", "configuration file (discord.application_id, discord.bot_token_env, discord.api_url)")
	guild := fs.String("guild", "", "register in this server (guild) only, where changes show at once; default: globally")
	printOnly := fs.Bool("print", false, "print the command JSON that would be registered, and call nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exchops discord register: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cmds := discord.Commands()
	if *printOnly {
		b, err := json.MarshalIndent(cmds, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "exchops discord register: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	c, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "exchops discord register: %s: %v\n", *cfgPath, err)
		return exitUsage
	}
	dc := c.Discord
	if dc.BotTokenEnv == "" {
		fmt.Fprintf(stderr, "exchops discord register: %s: discord.bot_token_env is empty: name the environment variable that holds the bot token\n", *cfgPath)
		return exitUsage
	}
	token := lookupEnv(nil, dc.BotTokenEnv)
	if token == "" {
		fmt.Fprintf(stderr, "exchops discord register: %s (discord.bot_token_env) is not set; set it to the bot's token\n", envVar("discord.bot_token_env", dc.BotTokenEnv))
		return exitUsage
	}
	err = discord.RegisterCommands(ctx, discord.Config{BotToken: token, ApplicationID: dc.ApplicationID, APIURL: dc.APIURL}, *guild)
	if err != nil {
		fmt.Fprintf(stderr, "exchops discord register: %v\n", err)
		return exitFail
	}
	n := 0
	for _, o := range cmds[0].Options {
		if o.Type == discordgo.ApplicationCommandOptionSubCommandGroup {
			n += len(o.Options)
		} else {
			n++
		}
	}
	where := "globally"
	if *guild != "" {
		where = "in server " + *guild
	}
	fmt.Fprintf(stdout, "Registered /%s (%d subcommands) %s for application %s.\n", discord.CommandName, n, where, dc.ApplicationID)
	return exitOK
}

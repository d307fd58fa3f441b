//go:build tools

// This file keeps the libraries chosen for exchops pinned in go.mod (see
// ../shared/LIBRARIES.md) before the code that uses them lands: Slack and Discord
// (the chat fronts), cron (schedules) and SQLite (the store). The build tag keeps it
// out of every build.
package main

import (
	_ "github.com/bwmarrin/discordgo"
	_ "github.com/jcmturner/gokrb5/v8/client"
	_ "github.com/jcmturner/gokrb5/v8/service"
	_ "github.com/robfig/cron/v3"
	_ "github.com/slack-go/slack"
	_ "github.com/smnsjas/go-psrpcore/serialization"
	_ "modernc.org/sqlite"
)

// Package schedules is exchops' cron: the replication health reports and failover
// drills that run on their own, from the configuration's schedules and from schedules
// added in chat.
//
// Collect reads a DAG's health (one read per member, in parallel, plus the DAG's own
// status) and judges it as the trusted scripts do; Report is plain data that every chat
// front renders its own way, and Chart draws the queue trend from stored reports. Drill
// carries out EXCHANGE.md's safe failover drill, one database at a time, under the
// DAG's lock, and returns a Scorecard. Scheduler runs both on robfig/cron, posts
// through a Publisher (the bot fans out to Slack and Discord), keeps what it did in a
// Store (SQLite), and reports the runs it missed while exchops was down. Watch
// compares each kept report with the DAG's state after the one before, and a Watcher
// (an Observer) posts what changed to the alert channels, once when it starts and once
// when it ends.
package schedules

// Package schedules is exchops' cron: the replication health reports and failover
// drills that run on their own, from the configuration's schedules and from schedules
// added in chat.
//
// Collect reads a DAG's health (one read per member, in parallel, plus the DAG's own
// status) and judges it as the trusted scripts do; Report is plain data that every chat
// front renders its own way, and Chart draws the queue trend from stored reports. Drill
// carries out EXCHANGE.md's safe failover drill, one database at a time, under the
// DAG's lock, and returns a Scorecard. Scheduler runs both on robfig/cron, posts
// through a Poster (the bot hands each channel to the front of its platform; a
// schedule's channels are keyed by the platforms' registered names), keeps what it
// did in a Store (SQLite), and reports the runs it missed while exchops was down.
// Watch compares each kept report with the DAG's state after the one before, and a
// Watcher (an Observer) posts what changed to the alert channels, once when it starts
// and once when it ends.
//
// A failover drill and the addition or removal of a drill schedule need a second
// admin's approval: Command returns them as a typed procedure (commands.Procedure)
// that approvals stores with the request, and Perform carries it out once approved,
// with the arguments the approvers saw.
package schedules

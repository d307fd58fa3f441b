package commands

import (
	"fmt"
	"strings"
)

// Until is the condition an Exchange wait polls for, decided in Go from the copy
// status its calls read (the Exchange endpoint runs no script that could decide it).
// It is plain data, so a stored request keeps it.
type Until struct {
	Kind     UntilKind `json:"kind"`
	Database string    `json:"database"`
	Server   string    `json:"server"`
}

// UntilKind names what an Until waits for.
type UntilKind string

const (
	// UntilCopyHealthy: the copy of Database on Server is Healthy (seeding is over);
	// Failed or FailedAndSuspended fails the wait.
	UntilCopyHealthy UntilKind = "copy-healthy"
	// UntilMounted: Database is Mounted on Server and every other copy is Healthy
	// (a switchover is over); any copy Failed* fails the wait.
	UntilMounted UntilKind = "mounted"
	// UntilSettled: no copy on Server is in a passing state any more (Initializing,
	// Resynchronizing, Seeding, ...): each is Mounted, Healthy, Suspended or Failed*.
	// It never fails: what the copies settled in is the report (dag maintenance stop).
	UntilSettled UntilKind = "settled"
)

// UntilSection is the section an Exchange wait's calls read into: rows of
// Get-MailboxDatabaseCopyStatus with the columns every copy status has.
const UntilSection = "copystatus"

// Check decides one poll, as Wait.Check.
func (u *Until) Check(t Tables) (done, failed bool, detail string, err error) {
	copies := t[UntilSection]
	switch u.Kind {
	case UntilCopyHealthy:
		name := u.Database + `\` + u.Server
		st := ""
		for _, c := range copies {
			if SameHost(c["MailboxServer"], u.Server) || strings.EqualFold(c["Name"], name) {
				st = strings.TrimSpace(c["Status"])
				break
			}
		}
		if st == "" {
			return false, false, "copy " + name + " is not listed yet", nil
		}
		failed = strings.EqualFold(st, "Failed") || strings.EqualFold(st, "FailedAndSuspended")
		return strings.EqualFold(st, "Healthy"), failed, "copy " + name + " is " + st, nil
	case UntilMounted:
		target, others := 0, 0
		for _, c := range copies {
			st := strings.TrimSpace(c["Status"])
			if len(st) >= len("Failed") && strings.EqualFold(st[:len("Failed")], "Failed") {
				failed = true
			}
			switch {
			case SameHost(c["MailboxServer"], u.Server):
				if strings.EqualFold(st, "Mounted") {
					target++
				}
			case !strings.EqualFold(st, "Healthy"):
				others++
			}
		}
		detail = fmt.Sprintf("%d mounted on target, %d other copies not yet Healthy", target, others)
		return target == 1 && others == 0, failed, detail, nil
	case UntilSettled:
		var moving []string
		n := 0
		for _, c := range copies {
			if !SameHost(c["MailboxServer"], u.Server) {
				continue
			}
			n++
			if !settled(c["Status"]) {
				moving = append(moving, c["Name"]+" "+strings.TrimSpace(c["Status"]))
			}
		}
		if len(moving) > 0 {
			return false, false, "still settling: " + strings.Join(moving, ", "), nil
		}
		return true, false, fmt.Sprintf("%d copies on %s settled", n, u.Server), nil
	}
	return false, false, "", fmt.Errorf("commands: unknown wait condition %q: this exchops cannot judge it (was the request stored by a newer version?)", u.Kind)
}

// String says the condition for people.
func (u *Until) String() string {
	switch u.Kind {
	case UntilCopyHealthy:
		return "until copy " + u.Database + `\` + u.Server + " is Healthy (fails on Failed or FailedAndSuspended)"
	case UntilMounted:
		return "until " + u.Database + " is Mounted on " + u.Server + " and every other copy is Healthy (fails on Failed*)"
	case UntilSettled:
		return "until every copy on " + u.Server + " is Mounted, Healthy, Suspended or Failed* (none still initializing)"
	}
	return "until " + string(u.Kind)
}

// settled reports whether a copy status is one a copy stays in until something
// changes it, rather than one it passes through.
func settled(status string) bool {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "mounted", "healthy", "suspended", "failed", "failedandsuspended", "dismounted":
		return true
	}
	return false
}

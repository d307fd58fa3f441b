package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/schedules"
)

// TestWatchIsWired: with watch.enabled, a health report in the demo is watched (its
// conditions kept in the store, so a restart neither repeats nor forgets them); with
// it off, nothing is.
func TestWatchIsWired(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprint("enabled=", enabled), func(t *testing.T) {
			cfg := demoConfig("127.0.0.1:0", filepath.Join(t.TempDir(), "exchops.db"))
			cfg.Watch = config.Watch{Enabled: enabled, SingleCopyAfter: config.Duration(20 * time.Minute), AlertChannels: config.PostTo{Slack: "C0ALERTS"}}
			a, err := startApp(context.Background(), appOptions{Config: cfg, Lab: true, Console: true,
				LabOptions: lab.Options{Timing: &lab.Timing{}, OperationTimeoutCap: 500 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.Close)
			for i, text := range walkthrough[5:] {
				id := fmt.Sprintf("r-%d", i+1)
				post(t, a, "/api/command", map[string]string{"person": "alice", "text": text})
				waitStatus(t, a, id)
				post(t, a, "/api/action", map[string]string{"person": "bob", "id": id, "decision": "approve"})
				if r := waitStatus(t, a, id); r.Status != approvals.Succeeded {
					t.Fatalf("%s: %s: %s", text, r.Status, r.Reason)
				}
			}
			if err := a.lab.Org.SetCopyFault("MB01", "EX10-MB02", "FailedAndSuspended", "The log file is damaged."); err != nil {
				t.Fatal(err)
			}
			healthInTheConsole(t, a, 1)
			st, err := a.db.WatchState(context.Background(), "E14-DAG")
			if err != nil {
				t.Fatal(err)
			}
			var kinds []schedules.AlertKind
			for _, c := range st.Conditions {
				kinds = append(kinds, c.Kind)
			}
			want := 0
			if enabled {
				want = 3 // the verdict, the copy, the single copy (not yet posted)
			}
			if len(kinds) != want {
				t.Errorf("watch state %v, want %d conditions", kinds, want)
			}
			// The alerts go out as alerts: the console shows the failed copy's with a
			// button that files the reseed.
			deadline := time.Now().Add(10 * time.Second)
			for enabled {
				tr := get(t, a, "api/transcript")
				if strings.Contains(tr, "quick-cmd step") && strings.Contains(tr, "copy reseed MB01 EX10-MB02") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no alert with a reseed button in the console:\n%s", tr)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tr := get(t, a, "api/transcript"); !enabled && strings.Contains(tr, "quick-cmd step") {
				t.Errorf("an alert was posted with the watch off")
			}
		})
	}
}

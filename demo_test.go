package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
)

// post sends JSON to the console as the page's script does.
func post(t *testing.T, a *app, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", a.URL+strings.TrimPrefix(path, "/"), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s: %s %s", path, res.Status, msg)
	}
}

// waitStatus polls the store until request id reaches a final status.
func waitStatus(t *testing.T, a *app, id string) *approvals.Request {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := a.approval.Get(context.Background(), id)
		if err == nil && r.Status.Final() {
			return r
		}
		if err == nil && r.Status == approvals.Pending && len(r.Votes) == 0 {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not settle", id)
	return nil
}

// TestWalkthroughInTheConsole: the whole walkthrough typed into the console as alice
// and approved as bob, through the same HTTP API the page uses, against the lab.
func TestWalkthroughInTheConsole(t *testing.T) {
	a := startDemo(t)
	for i, text := range walkthrough {
		id := fmt.Sprintf("r-%d", i+1)
		post(t, a, "/api/command", map[string]string{"person": "alice", "text": "/exchange " + text})
		r := waitStatus(t, a, id)
		if r.Status != approvals.Pending || r.Command == "" {
			t.Fatalf("%s: %s %q", text, r.Status, r.Reason)
		}
		post(t, a, "/api/action", map[string]string{"person": "bob", "id": id, "decision": "approve"})
		r = waitStatus(t, a, id)
		if r.Status != approvals.Succeeded {
			t.Fatalf("%s: %s: %s\n%s", text, r.Status, r.Reason, r.Run.Error)
		}
	}
	// Read-only commands answer at once, for a viewer too; metrics counted all of it.
	post(t, a, "/api/command", map[string]string{"person": "dave", "text": "copy status"})
	// The health report on demand, verdict first, from every member of the new DAG.
	post(t, a, "/api/command", map[string]string{"person": "dave", "text": "health E14-DAG"})
	a.core.Wait()
	transcript := get(t, a, "api/transcript")
	if !strings.Contains(transcript, "E14-DAG replication health: OK") {
		t.Errorf("no OK health report in the console:\n%.3000s", transcript)
	}
	// A failover drill on demand: approved like any change, then the procedure moves
	// each database away and back and reports its scorecard.
	id := fmt.Sprintf("r-%d", len(walkthrough)+1)
	post(t, a, "/api/command", map[string]string{"person": "alice", "text": "drill E14-DAG"})
	if r := waitStatus(t, a, id); r.Status != approvals.Pending || !strings.Contains(r.Summary, "failover <database> to=<server>") {
		t.Fatalf("drill: %s %q; the approvers must read what will run: %q", r.Status, r.Reason, r.Summary)
	}
	post(t, a, "/api/action", map[string]string{"person": "bob", "id": id, "decision": "approve"})
	if r := waitStatus(t, a, id); r.Status != approvals.Succeeded || !strings.Contains(r.Run.Output, "MB01") || !strings.Contains(r.Run.Output, "MB02") {
		t.Fatalf("drill: %s %q\n%s", r.Status, r.Reason, r.Run.Output)
	} else {
		t.Logf("the drill's scorecard:\n%s", r.Run.Output)
	}
	res, err := http.Get(a.URL + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	m, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`exchops_commands_total{command="copy add"} 2`,
		`exchops_commands_total{command="copy status"} 1`,
		fmt.Sprintf(`exchops_requests_total{outcome="succeeded"} %d`, len(walkthrough)+1), // and the drill
		fmt.Sprintf(`exchops_runs_total{outcome="succeeded"} %d`, len(walkthrough)+1),
		fmt.Sprintf(`exchops_run_duration_seconds_count{outcome="succeeded"} %d`, len(walkthrough)+1),
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	res, err = http.Get(a.URL + "healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", err, res)
	}
}

func get(t *testing.T, a *app, path string) string {
	t.Helper()
	res, err := http.Get(a.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestDrillScheduleNeedsApproval: adding a drill schedule in chat is a request like
// any change; once another admin approves it, the schedule exists. Removing it is
// approved the same way. A health schedule needs no approval.
func TestDrillScheduleNeedsApproval(t *testing.T) {
	a := startDemo(t)
	ctx := context.Background()
	post(t, a, "/api/command", map[string]string{"person": "alice", "text": `schedule add weekly "0 3 * * SUN" drill E14-DAG`})
	r := waitStatus(t, a, "r-1")
	if r.Status != approvals.Pending || r.Command != `schedule add weekly "0 3 * * SUN" drill E14-DAG` {
		t.Fatalf("the drill schedule is not a pending request: %+v", r)
	}
	if _, err := a.approval.Approve(ctx, "r-1", "alice", approvals.Origin{Platform: "console"}); approvals.RefusalOf(err) == nil {
		t.Fatalf("alice approved her own drill schedule: %v", err)
	}
	if list := schedulesListed(t, a); strings.Contains(list, "weekly") {
		t.Fatalf("the drill schedule exists before approval:\n%s", list)
	}
	post(t, a, "/api/action", map[string]string{"person": "bob", "id": "r-1", "decision": "approve"})
	if r = waitStatus(t, a, "r-1"); r.Status != approvals.Succeeded || !strings.Contains(r.Run.Output, "Added weekly") {
		t.Fatalf("after approval: %s %q %+v", r.Status, r.Reason, r.Run)
	}
	if list := schedulesListed(t, a); !strings.Contains(list, "weekly") || !strings.Contains(list, "drill") {
		t.Fatalf("the approved drill schedule is missing:\n%s", list)
	}

	post(t, a, "/api/command", map[string]string{"person": "alice", "text": "schedule remove weekly"})
	waitStatus(t, a, "r-2")
	post(t, a, "/api/action", map[string]string{"person": "bob", "id": "r-2", "decision": "approve"})
	if r = waitStatus(t, a, "r-2"); r.Status != approvals.Succeeded {
		t.Fatalf("removal: %s %q", r.Status, r.Reason)
	}
	if list := schedulesListed(t, a); strings.Contains(list, "weekly") {
		t.Fatalf("the drill schedule is still there:\n%s", list)
	}

	// A health schedule is added at once.
	post(t, a, "/api/command", map[string]string{"person": "alice", "text": `schedule add daily "0 7 * * *" health E14-DAG`})
	a.core.Wait()
	if list := schedulesListed(t, a); !strings.Contains(list, "daily") {
		t.Fatalf("the health schedule is missing:\n%s", list)
	}
	if h, _ := a.approval.History(ctx, 0); len(h) != 2 {
		t.Errorf("%d requests, want 2 (the drill schedule's add and remove)", len(h))
	}
}

func schedulesListed(t *testing.T, a *app) string {
	t.Helper()
	text, err := a.sched.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// approveAll types each command into the console as alice and approves it as bob,
// numbering requests from first; each must succeed.
func approveAll(t *testing.T, a *app, first int, texts ...string) {
	t.Helper()
	for i, text := range texts {
		id := fmt.Sprintf("r-%d", first+i)
		post(t, a, "/api/command", map[string]string{"person": "alice", "text": "/exchange " + text})
		r := waitStatus(t, a, id)
		if r.Status != approvals.Pending || r.Command == "" {
			t.Fatalf("%s: %s %q", text, r.Status, r.Reason)
		}
		post(t, a, "/api/action", map[string]string{"person": "bob", "id": id, "decision": "approve"})
		r = waitStatus(t, a, id)
		if r.Status != approvals.Succeeded {
			t.Fatalf("%s: %s: %s\n%s", text, r.Status, r.Reason, r.Run.Error)
		}
	}
}

// TestPatchingInTheConsole: README's "Patching a DAG member", in the demo: after the
// walkthrough, EX10-MB01 goes into maintenance, status tells who put it there, it
// comes out, the databases go back to their preferred servers, and a copy that failed
// meanwhile is reseeded.
func TestPatchingInTheConsole(t *testing.T) {
	a := startDemo(t)
	approveAll(t, a, 1, walkthrough...)
	n := len(walkthrough) + 1
	approveAll(t, a, n, "dag maintenance start EX10-MB01")
	post(t, a, "/api/command", map[string]string{"person": "dave", "text": "dag maintenance status E14-DAG"})
	a.core.Wait()
	if tr := get(t, a, "api/transcript"); !strings.Contains(tr, "EX10-MB01 since") || !strings.Contains(tr, "by alice") {
		t.Errorf("status does not tell who started the maintenance:\n%.4000s", tr)
	}
	approveAll(t, a, n+1, "dag maintenance stop EX10-MB01", "dag rebalance E14-DAG")
	if err := a.lab.Org.SetCopyFault("MB02", "EX10-MB01", "FailedAndSuspended", "The log file is damaged."); err != nil {
		t.Fatal(err)
	}
	approveAll(t, a, n+3, "copy reseed MB02 EX10-MB01")
}

package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/outbox"
)

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "exchops.db")
	db := open(t, path)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i, key := range []string{"r-1 card", "r-2 card"} {
		if _, err := db.Enqueue(ctx, outbox.Post{Platform: "slack", Key: key, Payload: []byte(`{"n":` + string(rune('0'+i)) + `}`), NextAt: t0, CreatedAt: t0, LastError: "429"}); err != nil {
			t.Fatal(err)
		}
	}
	db.Enqueue(ctx, outbox.Post{Platform: "discord", Key: "r-1 card", Payload: []byte("{}"), NextAt: t0.Add(time.Hour), CreatedAt: t0})
	due, err := db.Due(ctx, "slack", t0, 10)
	if err != nil || len(due) != 2 || due[0].Key != "r-1 card" || string(due[1].Payload) != `{"n":1}` {
		t.Fatalf("due: %v %+v", err, due)
	}
	if err := db.Postpone(ctx, due[0].ID, t0.Add(time.Minute), "500"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delivered(ctx, due[1].ID, t0); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.Due(ctx, "slack", t0.Add(30*time.Second), 10); len(due) != 0 {
		t.Fatalf("postponed post due early: %+v", due)
	}
	if due, _ := db.Due(ctx, "discord", t0, 10); len(due) != 0 {
		t.Fatalf("discord post due early: %+v", due)
	}
	// Undelivered posts survive a restart.
	db.Close()
	db = open(t, path)
	due, _ = db.Due(ctx, "slack", t0.Add(time.Minute), 10)
	if len(due) != 1 || due[0].Attempts != 1 || due[0].LastError != "500" || !due[0].NextAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after restart: %+v", due)
	}
	if n, _ := db.Undelivered(ctx, ""); n != 2 {
		t.Errorf("undelivered: %d", n)
	}
	if n, _ := db.Undelivered(ctx, "slack"); n != 1 {
		t.Errorf("undelivered slack: %d", n)
	}
}

func TestFirstSeen(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	keep := 10 * time.Minute
	for _, tt := range []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"slack:trigger:1", 0, true},
		{"slack:trigger:1", time.Second, false},
		{"slack:trigger:2", time.Second, true},
		{"slack:trigger:1", 6 * time.Minute, false}, // Slack's last retry comes at +5 min
		{"slack:trigger:1", 11 * time.Minute, true},
	} {
		got, err := db.FirstSeen(ctx, tt.key, t0.Add(tt.at), keep)
		if err != nil || got != tt.want {
			t.Errorf("FirstSeen(%s at +%v) = %v %v, want %v", tt.key, tt.at, got, err, tt.want)
		}
	}
}

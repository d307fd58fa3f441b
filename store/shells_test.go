package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/exchops/exchops/store"
)

func TestShellsAreRecordedUntilForgotten(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	a := store.Shell{ID: "A1", Server: "EX10-CAHT", ResourceURI: "http://schemas.microsoft.com/powershell/Microsoft.Exchange", OpenedAt: t0.UTC()}
	b := store.Shell{ID: "B2", Server: "DC01", ResourceURI: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", OpenedAt: t0.Add(time.Millisecond).UTC()}
	for _, sh := range []store.Shell{a, b, a} { // recording twice keeps one row
		if err := db.RecordShell(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Shells(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Shell{a, b}; !reflect.DeepEqual(got, want) {
		t.Fatalf("shells = %+v, want %+v", got, want)
	}
	if err := db.ForgetShell(ctx, "A1"); err != nil {
		t.Fatal(err)
	}
	if err := db.ForgetShell(ctx, "nope"); err != nil {
		t.Errorf("forgetting an unknown shell: %v", err)
	}
	got, _ = db.Shells(ctx)
	if want := []store.Shell{b}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after forgetting A1: %+v, want %+v", got, want)
	}
}

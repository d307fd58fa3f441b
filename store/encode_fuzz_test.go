package store

import (
	"database/sql"
	"reflect"
	"testing"
)

// FuzzDecodeWait: a stored wait (an Exchange wait's calls and condition, or a WinRS
// script) never panics the reader, and whatever it reads writes back to the same wait.
func FuzzDecodeWait(f *testing.F) {
	f.Add(`{"step":{"target":"EX10-CAHT","calls":[{"pipeline":[{"name":"Get-MailboxDatabaseCopyStatus","params":[{"name":"Identity","type":"string","value":"MB01\\EX10-MB02"}]}],"section":"copystatus","columns":["Name","#CopyQueueLength"],"when":{"section":"databases","column":"Name","value":"MB01"}}],"script":"Get-MailboxDatabaseCopyStatus -Identity 'MB01\\EX10-MB02'\n"},"until":{"kind":"copy-healthy","database":"MB01","server":"EX10-MB02"},"progress":"seeding","budget":"12h0m0s","interval":"1m0s"}`)
	f.Add(`{"step":{"target":"EX10-CAHT","script":"$ErrorActionPreference = 'Stop'"},"budget":"5m0s","interval":"10s"}`)
	f.Add(`{"step":{"target":"X","calls":[{"pipeline":[{"name":"C","params":[{"name":"P","type":"string[]","values":["a",""]}]}],"where":{"column":"Name","not_empty":true}}]},"until":{"kind":"later"},"budget":"1ns","interval":"0s"}`)
	f.Fuzz(func(t *testing.T, s string) {
		w, err := decodeWait(sql.NullString{String: s, Valid: true})
		if err != nil || w == nil {
			return
		}
		enc, ok := encodeWait(w).(string)
		if !ok {
			t.Fatalf("a decoded wait encodes to %T", encodeWait(w))
		}
		again, err := decodeWait(sql.NullString{String: enc, Valid: true})
		if err != nil {
			t.Fatalf("re-reading %s: %v", enc, err)
		}
		if !reflect.DeepEqual(w, again) {
			t.Fatalf("the wait changed on a round trip:\n%+v\n%+v", w, again)
		}
	})
}

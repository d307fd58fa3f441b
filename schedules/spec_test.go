package schedules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/schedules"
)

// Specs as people type them in chat, hostile ones included: none may panic, each is
// refused with a message that says what is wrong.
func TestParseSpecRefuses(t *testing.T) {
	cases := []struct{ spec, tz, mention string }{
		{"", "", "is empty"},
		{"   ", "", "is empty"},
		{"CRON_TZ=UTC", "", "must be followed by a space"},
		{"TZ=UTC", "", "must be followed by a space"},
		{"cron_tz=Europe/Berlin", "", "must be followed by a space"},
		{"CRON_TZ=", "", "must be followed by a space"},
		{"CRON_TZ= 0 7 * * *", "", "names no zone"},
		{"CRON_TZ=Mars/Olympus 0 7 * * *", "", "is not a time zone"},
		{"CRON_TZ=../../../etc/passwd 0 7 * * *", "", "is not a time zone"},
		{"CRON_TZ=Local 0 7 * * *", "", "name a zone"},
		{"CRON_TZ=UTC 0 7 * * *", "Europe/Berlin", "give one"},
		{"CRON_TZ=UTC TZ=UTC 0 7 * * *", "", "twice"},
		{"0 7 * * *", "Nowhere/Land", "is not a time zone"},
		{"hello", "", "needs five fields"},
		{"0 7 * * * *", "", "needs five fields"},
		{"* * * * * * * * * *", "", "needs five fields"},
		{"0-99999999 * * * *", "", "out of range"},
		{"0-99999999999999999999999 * * * *", "", "failed to parse"},
		{"*/0 * * * *", "", "positive"},
		{"1-5/99999999999999999999 * * * *", "", "failed to parse"},
		{"70 7 * * *", "", "out of range"},
		{"0 7 32 * *", "", "out of range"},
		{"0 7 * 13 *", "", "out of range"},
		{"0 7 * * FUNDAY", "", "failed to parse"},
		{"59-0 * * * *", "", "beyond end"},
		{"0 0 30 2 *", "", "never fires"},
		{"* * * * *", "", "at most once every 5m"},
		{"*/2 * * * *", "", "at most once every 5m"},
		{"@every 1s", "", "at most once every 5m"},
		{"@every -5m", "", "at most once every 5m"},
		{"@every", "", "unrecognized descriptor"},
		{"@reboot", "", "unrecognized descriptor"},
		{"@daily=UTC", "", "unrecognized descriptor"},
		{"0 7 * * *\x00", "", "control characters"},
		{"0 7 * * *\n0 8 * * *", "", "control characters"},
		{"\xff\xfe", "", "control characters"},
		{"٣ ٧ * * *", "", "failed to parse"},
		{strings.Repeat("1,", 120) + "1 * * * *", "", "longer than 200"},
	}
	for _, tc := range cases {
		s, err := schedules.ParseSpec(tc.spec, tc.tz)
		var se *schedules.SpecError
		if !errors.As(err, &se) {
			t.Errorf("ParseSpec(%q, %q) = %v, %v; want a *SpecError", tc.spec, tc.tz, s, err)
			continue
		}
		if s != nil {
			t.Errorf("ParseSpec(%q) returned a schedule with its error", tc.spec)
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseSpec(%q, %q): %q does not mention %q", tc.spec, tc.tz, err, tc.mention)
		}
	}
}

func TestParseSpecAccepts(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // a Wednesday
	cases := []struct {
		spec, tz string
		next     time.Time
	}{
		{"0 7 * * *", "Europe/Berlin", time.Date(2026, 11, 26, 7, 0, 0, 0, berlin)},
		{"CRON_TZ=Europe/Berlin 0 7 * * *", "", time.Date(2026, 11, 26, 7, 0, 0, 0, berlin)},
		{"  TZ=UTC  0 7 * * *  ", "", time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Europe/Berlin 0 3 * * SUN", "Europe/Berlin", time.Date(2026, 11, 29, 3, 0, 0, 0, berlin)},
		{"@daily", "UTC", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{"@every 6h", "", from.Add(6 * time.Hour)},
		{"*/15 8-18 * * MON-FRI", "UTC", time.Date(2026, 11, 25, 12, 15, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		s, err := schedules.ParseSpec(tc.spec, tc.tz)
		if err != nil {
			t.Errorf("ParseSpec(%q, %q): %v", tc.spec, tc.tz, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.next) {
			t.Errorf("ParseSpec(%q, %q).Next = %v, want %v", tc.spec, tc.tz, got, tc.next)
		}
	}
}

// Daylight saving in Berlin, 2026: clocks go from 02:00 to 03:00 on 29 March and
// from 03:00 back to 02:00 on 25 October. A daily 07:00 stays at 07:00 local; a daily
// 02:30 fires at the change in March (02:30 does not exist that night) and once, not
// twice, in October.
func TestNextAcrossDaylightSaving(t *testing.T) {
	utc := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		spec string
		from string
		want []string
	}{
		{"0 7 * * *", "2026-03-27T12:00:00Z", []string{"2026-03-28T06:00:00Z", "2026-03-29T05:00:00Z", "2026-03-30T05:00:00Z"}},
		{"0 7 * * *", "2026-10-23T12:00:00Z", []string{"2026-10-24T05:00:00Z", "2026-10-25T06:00:00Z", "2026-10-26T06:00:00Z"}},
		{"30 2 * * *", "2026-03-27T12:00:00Z", []string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"30 2 * * *", "2026-10-23T12:00:00Z", []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"0 3 * * SUN", "2026-03-27T12:00:00Z", []string{"2026-03-29T01:00:00Z", "2026-04-05T01:00:00Z"}},
		{"0 3 * * SUN", "2026-10-23T12:00:00Z", []string{"2026-10-25T02:00:00Z", "2026-11-01T02:00:00Z"}},
	}
	for _, tc := range cases {
		s, err := schedules.ParseSpec(tc.spec, "Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		at := utc(tc.from)
		for _, w := range tc.want {
			at = s.Next(at)
			if !at.Equal(utc(w)) {
				t.Errorf("%s from %s: got %s, want %s", tc.spec, tc.from, at.UTC().Format(time.RFC3339), w)
				break
			}
		}
	}
}

// FuzzParseSpec: whatever the text, ParseSpec returns and what it accepts fires.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"0 7 * * *", "CRON_TZ=UTC", "CRON_TZ=Europe/Berlin 30 2 * * *", "@every 1h", "TZ=", "*/0 * * * *", "0-99999999 * * * *", "@weekly"} {
		f.Add(s, "")
	}
	f.Add("0 7 * * *", "Europe/Berlin")
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := schedules.ParseSpec(spec, tz)
		if err != nil {
			if s != nil {
				t.Fatal("a schedule with an error")
			}
			return
		}
		if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			t.Fatalf("%q was accepted but never fires", spec)
		}
	})
}

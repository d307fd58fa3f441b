package schedules

import "testing"

// The trap ParseSpec guards against: robfig/cron v3.0.1's parser panics on a zone
// with no fields after it. safeParse, its last wall, turns that into an error.
func TestSafeParseRecovers(t *testing.T) {
	for _, spec := range []string{"CRON_TZ=UTC", "TZ=Europe/Berlin"} {
		s, err := safeParse(spec)
		if err == nil || s != nil {
			t.Errorf("safeParse(%q) = %v, %v; want an error", spec, s, err)
		}
	}
}

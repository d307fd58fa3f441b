package schedules_test

import (
	"bytes"
	"fmt"
	"image/png"
	"testing"
	"time"

	"github.com/exchops/exchops/schedules"
)

// history makes n daily reports of a two-copy DAG, the passive copy of MB01 falling
// behind a little more each day.
func history(n int, start time.Time) []*schedules.Report {
	var out []*schedules.Report
	for i := range n {
		out = append(out, &schedules.Report{
			DAG: "E14-DAG", At: start.Add(time.Duration(i) * 24 * time.Hour), Verdict: schedules.OK,
			Copies: []schedules.CopyDetail{
				{Database: "MB01", Server: "EX10-MB01", Status: "Mounted", Active: true},
				{Database: "MB01", Server: "EX10-MB02", Status: "Healthy", CopyQueue: i * 2, ReplayQueue: i},
				{Database: "MB02", Server: "EX10-MB02", Status: "Mounted", Active: true},
				{Database: "MB02", Server: "EX10-MB01", Status: "Healthy", CopyQueue: 1, ReplayQueue: 0},
			},
		})
	}
	return out
}

func TestChart(t *testing.T) {
	start := time.Date(2026, 11, 18, 7, 0, 0, 0, time.UTC)
	reports := history(8, start)
	since := start.Add(24 * time.Hour) // the first report is older than the window

	d := schedules.Plot(reports, since)
	// 7 reports in the window × 2 passive copies × 2 queues.
	if got := d.Points(); got != 28 {
		t.Fatalf("%d points plotted, want 28: %+v", got, d)
	}
	if len(d.Copy) != 2 || len(d.Replay) != 2 || d.Copy[0].Copy != `MB01\EX10-MB02` || d.Copy[1].Copy != `MB02\EX10-MB01` {
		t.Fatalf("series: copy %+v, replay %+v", d.Copy, d.Replay)
	}
	if last := d.Copy[0].Points[6]; last.Value != 14 || !last.At.Equal(start.Add(7*24*time.Hour)) {
		t.Errorf("last point of MB01\\EX10-MB02's copy queue: %+v", last)
	}

	b, err := schedules.Chart(reports, since)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 600 || r.Dy() < 400 {
		t.Errorf("the chart is %dx%d pixels", r.Dx(), r.Dy())
	}
	// Something was drawn besides the background.
	colours := map[string]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[fmt.Sprint(r>>8, g>>8, b>>8)] = true
		}
	}
	if len(colours) < 4 {
		t.Errorf("the chart has %d colours: it looks empty", len(colours))
	}

	if b, err := schedules.Chart(reports, start.Add(30*24*time.Hour)); err != nil || b != nil {
		t.Errorf("a chart of nothing: %d bytes, %v; want none", len(b), err)
	}
}

package schedules

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartData is what Chart draws: for each passive copy seen in the reports, its copy
// queue and its replay queue over time. Active copies are left out (their queues are
// always empty), and so are the moments a copy was active.
type ChartData struct {
	Since, Until time.Time
	Copy         []Series // copy queue lengths, one series per copy
	Replay       []Series // replay queue lengths, one series per copy
	CopyLimit    int      // the thresholds, drawn dashed across each panel
	ReplayLimit  int
}

// Series is one copy's queue over time.
type Series struct {
	Copy   string // MB01\EX10-MB02
	Points []Point
}

// Point is one reading.
type Point struct {
	At    time.Time
	Value int
}

// Points counts the readings in every series of both panels.
func (d ChartData) Points() int {
	n := 0
	for _, s := range append(append([]Series(nil), d.Copy...), d.Replay...) {
		n += len(s.Points)
	}
	return n
}

// Plot gathers the chart's data from stored reports (any order), keeping those at or
// after since.
func Plot(history []*Report, since time.Time) ChartData {
	reports := make([]*Report, 0, len(history))
	for _, r := range history {
		if r != nil && !r.At.Before(since) {
			reports = append(reports, r)
		}
	}
	sort.SliceStable(reports, func(i, j int) bool { return reports[i].At.Before(reports[j].At) })
	d := ChartData{Since: since, CopyLimit: DefaultQueueLimit, ReplayLimit: DefaultQueueLimit}
	copyIdx, replayIdx := map[string]int{}, map[string]int{}
	add := func(list *[]Series, idx map[string]int, name string, p Point) {
		i, ok := idx[name]
		if !ok {
			i = len(*list)
			idx[name] = i
			*list = append(*list, Series{Copy: name})
		}
		(*list)[i].Points = append((*list)[i].Points, p)
	}
	for _, r := range reports {
		d.Until = r.At
		d.CopyLimit, d.ReplayLimit = r.Thresholds.copyLimit(), r.Thresholds.replayLimit()
		for _, c := range r.Copies {
			if c.Active || c.Status == "Unknown" {
				continue
			}
			add(&d.Copy, copyIdx, c.Name(), Point{At: r.At, Value: c.CopyQueue})
			add(&d.Replay, replayIdx, c.Name(), Point{At: r.At, Value: c.ReplayQueue})
		}
	}
	return d
}

// Chart draws the copy and replay queue lengths of the reports since since as a PNG:
// two panels, one line per copy, the threshold dashed across. It returns nil and no
// error when there is nothing to draw.
func Chart(history []*Report, since time.Time) ([]byte, error) {
	return drawChart(Plot(history, since))
}

func drawChart(d ChartData) ([]byte, error) {
	if d.Points() == 0 {
		return nil, nil
	}
	panels := []struct {
		title  string
		series []Series
		limit  int
	}{
		{"Copy queue (logs)", d.Copy, d.CopyLimit},
		{"Replay queue (logs)", d.Replay, d.ReplayLimit},
	}
	// One colour per copy, the same in both panels.
	colours := map[string]color.Color{}
	for _, s := range append(append([]Series(nil), d.Copy...), d.Replay...) {
		if _, ok := colours[s.Copy]; !ok {
			colours[s.Copy] = plotutil.Color(len(colours))
		}
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Tick.Marker = timeTicks{}
		p.X.Label.Text = "UTC"
		p.Y.Min = 0
		top := float64(pn.limit) + 2
		for _, s := range pn.series {
			xys := make(plotter.XYs, len(s.Points))
			for k, pt := range s.Points {
				xys[k].X = float64(pt.At.Unix())
				xys[k].Y = float64(pt.Value)
				top = math.Max(top, float64(pt.Value)*1.3) // room for the legend
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, fmt.Errorf("schedules: charting %s: %w", s.Copy, err)
			}
			line.Color = colours[s.Copy]
			points.Color = colours[s.Copy]
			points.Shape = draw.CircleGlyph{}
			p.Add(line, points)
			if i == 0 {
				p.Legend.Add(s.Copy, line, points)
			}
		}
		p.Y.Max = top
		limit := plotter.NewFunction(func(float64) float64 { return float64(pn.limit) })
		limit.Color = color.RGBA{R: 200, A: 255}
		limit.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(limit)
		if i == 0 {
		}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.Add(fmt.Sprintf("unhealthy at %d", pn.limit), limit)
		// Fix the x range to the window even when the data is short.
		p.X.Min, p.X.Max = float64(d.Since.Unix()), float64(maxTime(d.Until, d.Since.Add(time.Hour)).Unix())
		plots[i] = []*plot.Plot{p}
	}
	img := vgimg.New(8*vg.Inch, 6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("schedules: encoding the chart: %w", err)
	}
	return buf.Bytes(), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// timeTicks marks days at midnight UTC on a chart of several days, and every few
// hours on a shorter one.
type timeTicks struct{}

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	from, to := time.Unix(int64(lo), 0).UTC(), time.Unix(int64(hi), 0).UTC()
	step, format := 24*time.Hour, "Jan 2"
	if to.Sub(from) < 48*time.Hour {
		step, format = 3*time.Hour, "Jan 2 15:04"
	}
	var ticks []plot.Tick
	for t := from.Truncate(step); !t.After(to) && len(ticks) < 100; t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: float64(t.Unix()), Label: t.Format(format)})
	}
	return ticks
}

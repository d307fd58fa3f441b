package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/report"
)

// WatchStore keeps each DAG's watch state, so that a restart neither repeats an open
// alert nor forgets it; store.DB implements it.
type WatchStore interface {
	// WatchState returns what the watch holds for a DAG (no conditions when nothing).
	WatchState(ctx context.Context, dag string) (WatchState, error)
	// SaveWatchState replaces what the watch holds for st.DAG.
	SaveWatchState(ctx context.Context, st WatchState) error
}

// AlertPoster is a Poster that can post an alert as such, with its next steps as
// buttons that file the command. Without it, an alert is posted as a short report
// whose next steps are the commands to type.
type AlertPoster interface {
	Poster
	PublishAlert(ctx context.Context, to map[string]string, a Alert) error
}

// WatchConfig is what a Watcher needs.
type WatchConfig struct {
	Store    WatchStore
	Poster   Poster
	To       map[string]string // the alert channels, by platform
	Settings WatchSettings
	Clock    clock.Clock // what now is (default the wall clock)
	Logger   *slog.Logger
	// PostTimeout bounds one post (default a minute).
	PostTimeout time.Duration
}

// Watcher runs Watch on every health report the scheduler keeps (it is an Observer)
// and posts the alerts. The state is kept before anything is posted; posts go out in
// order from one goroutine, so a slow chat front does not hold up the report.
type Watcher struct {
	cfg WatchConfig
	log *slog.Logger

	mu     sync.Mutex
	states map[string]WatchState // by upper-case DAG name, as last saved
	closed bool

	posts chan []Alert
	done  chan struct{}
}

// NewWatcher checks the configuration and starts the watcher's poster; Close stops it.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if cfg.Store == nil || cfg.Poster == nil {
		return nil, errors.New("schedules: a watcher needs a Store and a Poster")
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("schedules: a watcher needs an alert channel (watch.alert_channels)")
	}
	if cfg.Settings.SingleCopyAfter < 0 {
		return nil, fmt.Errorf("schedules: watch.single_copy_after is %s: give a duration of 0 or more", cfg.Settings.SingleCopyAfter)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PostTimeout <= 0 {
		cfg.PostTimeout = time.Minute
	}
	w := &Watcher{cfg: cfg, log: cfg.Logger, states: map[string]WatchState{},
		posts: make(chan []Alert, 64), done: make(chan struct{})}
	go w.poster()
	return w, nil
}

// ObserveReport compares rep with the DAG's last state, keeps the new state and
// queues the alerts. When the state cannot be read or kept, nothing is posted and the
// state stays as it was: the next report finds the same changes and tries again.
func (w *Watcher) ObserveReport(rep *Report) {
	if rep == nil || rep.DAG == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.PostTimeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	key := strings.ToUpper(rep.DAG)
	prev, ok := w.states[key]
	if !ok {
		var err error
		if prev, err = w.cfg.Store.WatchState(ctx, rep.DAG); err != nil {
			w.log.Error("reading the watch state; this report is not compared", "dag", rep.DAG, "err", err)
			return
		}
	}
	alerts, next := Watch(prev, rep, w.cfg.Clock.Now(), w.cfg.Settings)
	if !sameState(prev, next) {
		if err := w.cfg.Store.SaveWatchState(ctx, next); err != nil {
			w.log.Error("keeping the watch state; its alerts are not posted", "dag", rep.DAG, "alerts", len(alerts), "err", err)
			return
		}
	}
	w.states[key] = next
	if len(alerts) > 0 {
		w.posts <- alerts
	}
}

// Close posts what is queued (for a minute at most) and stops the poster. Reports
// observed after Close are ignored.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.posts)
	w.mu.Unlock()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		w.log.Error("alerts still being posted a minute after Close")
	}
}

func (w *Watcher) poster() {
	defer close(w.done)
	for batch := range w.posts {
		for _, a := range batch {
			w.post(a)
		}
	}
}

func (w *Watcher) post(a Alert) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.PostTimeout)
	defer cancel()
	var err error
	if ap, ok := w.cfg.Poster.(AlertPoster); ok {
		err = ap.PublishAlert(ctx, w.cfg.To, a)
	} else {
		err = w.cfg.Poster.Publish(ctx, w.cfg.To, report.FromText(a.Title, a.Message(), nil))
	}
	if err != nil {
		w.log.Error("posting an alert", "dag", a.DAG, "title", a.Title, "err", err)
	}
}

// Message is the alert's text as a front without buttons posts it: the text, then
// each next step as the command to type.
func (a Alert) Message() string {
	var b strings.Builder
	b.WriteString(a.Text)
	if len(a.Next) > 0 {
		b.WriteString("\nNext steps:")
		for _, s := range a.Next {
			fmt.Fprintf(&b, "\n- %s: `/exchange %s`", s.Label, s.Command)
		}
	}
	return b.String()
}

func sameState(a, b WatchState) bool {
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i, c := range a.Conditions {
		d := b.Conditions[i]
		if c.Kind != d.Kind || c.Subject != d.Subject || c.State != d.State || c.Level != d.Level ||
			!c.Since.Equal(d.Since) || !c.Posted.Equal(d.Posted) {
			return false
		}
	}
	return true
}

// Observers lets several observers hear the same reports (the metrics and the
// watcher), in order.
type Observers []Observer

// ObserveReport hands rep to each observer.
func (os Observers) ObserveReport(rep *Report) {
	for _, o := range os {
		if o != nil {
			o.ObserveReport(rep)
		}
	}
}

package discord

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/exchops/exchops/bot/bottest"
)

// fakeGateway is Discord's gateway, as far as a bot that only takes interactions
// needs it: Hello, Identify, Ready, then dispatches.
type fakeGateway struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	conn     *websocket.Conn
	identify map[string]any
	ready    chan struct{}
	seq      int
}

func startFakeGateway(t testing.TB, f *bottest.FakeDiscord) *fakeGateway {
	g := &fakeGateway{t: t, ready: make(chan struct{})}
	up := websocket.Upgrader{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("fake gateway: %v", err)
			return
		}
		defer c.Close()
		if err := c.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}); err != nil {
			return
		}
		var id map[string]any
		if err := c.ReadJSON(&id); err != nil {
			return
		}
		g.mu.Lock()
		g.conn, g.identify = c, id
		g.seq++
		err = c.WriteJSON(map[string]any{"op": 0, "t": "READY", "s": g.seq, "d": map[string]any{
			"v": 10, "session_id": "gw-session", "user": map[string]any{"id": testApp, "username": "exchops", "bot": true},
			"guilds": []any{}, "application": map[string]any{"id": testApp}}})
		g.mu.Unlock()
		if err != nil {
			return
		}
		close(g.ready)
		for {
			var m map[string]any
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			if m["op"] == float64(1) { // heartbeat
				g.mu.Lock()
				c.WriteJSON(map[string]any{"op": 11})
				g.mu.Unlock()
			}
		}
	}))
	t.Cleanup(g.srv.Close)
	f.SetGateway("ws" + strings.TrimPrefix(g.srv.URL, "http"))
	return g
}

// dispatch sends an interaction as INTERACTION_CREATE.
func (g *fakeGateway) dispatch(t testing.TB, it interaction) {
	t.Helper()
	select {
	case <-g.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot never identified on the gateway")
	}
	var d map[string]any
	if err := json.Unmarshal(it.Body, &d); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	if err := g.conn.WriteJSON(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": g.seq, "d": d}); err != nil {
		t.Fatal(err)
	}
}

// TestGateway: with no public endpoint, interactions come over the gateway and take the
// same path; the answer goes to the callback endpoint, the rest as over HTTP.
func TestGateway(t *testing.T) {
	var g *fakeGateway
	h := newHarness(t, func(h *harness, c *Config) {
		c.Gateway = true
		g = startFakeGateway(t, h.fake)
	})
	g.mu.Lock()
	tok, _ := g.identify["d"].(map[string]any)["token"].(string)
	g.mu.Unlock()
	if tok != "Bot "+testToken {
		t.Errorf("the gateway was not identified with the bot token")
	}
	it := h.commandInteraction("1001", testChannel, createDAG)
	g.dispatch(t, it)
	cb := h.fake.WaitRequest(t, "the deferred answer at the callback", "POST", "interactions/"+it.ID+"/"+it.Token+"/callback", nil)
	if cb.Body["type"] != float64(5) {
		t.Errorf("callback = %v, want type 5", cb.Body)
	}
	h.followup(it, "Planning dag create")
	msgID := h.card("r-1", testChannel)
	click := h.clickInteraction("1002", testChannel, approvePrefix+"r-1", msgID)
	g.dispatch(t, click)
	h.followup(click, "You approved r-1")
	h.fake.WaitFor(t, "the card edited to succeeded", func() bool {
		return strings.Contains(h.fake.Message(msgID).Content(), "succeeded")
	})
}

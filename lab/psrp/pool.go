package psrp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/exchops/exchops/lab/ps"
)

// PoolOptions configure a Pool.
type PoolOptions struct {
	// MaxMessage bounds a client message's size (DefaultMaxMessage when 0).
	MaxMessage int
	// Corrupt is asked before each PIPELINE_OUTPUT is queued; when it returns true, that
	// message carries CLIXML that does not parse (the lab's malformed-CLIXML fault).
	Corrupt func() bool
}

// Pool is the server side of one runspace pool: what a client's WS-Management shell on
// the PowerShell endpoint holds. The transport (package lab/wsman) hands it the client's
// packets and long-polls its outboxes; Pool knows nothing of SOAP.
type Pool struct {
	ep     Endpoint
	user   string
	opts   PoolOptions
	ctx    context.Context
	cancel context.CancelFunc
	rpid   GUID
	client SessionCapability
	out    *outbox
	oid    atomic.Uint64
	opened chan struct{} // closed when Endpoint.Open has returned
	wg     sync.WaitGroup
	done   chan struct{} // closed when Close has finished with the Runspace

	mu        sync.Mutex
	state     int
	rs        Runspace
	max       int
	running   int
	slotWake  chan struct{}
	pipelines map[string]*Pipeline
	order     []string // pipeline ids, oldest first, for pruning finished ones
	reasm     Reassembler
	closed    bool
}

// maxKeptPipelines is how many finished pipelines a pool remembers, so a late Signal or
// Receive about one still finds it.
const maxKeptPipelines = 64

// NewPool reads a shell's creationXml (SESSION_CAPABILITY and INIT_RUNSPACEPOOL) and
// starts opening the pool: Endpoint.Open runs in the background, and the pool's
// messages (SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE) wait for
// the client's Receive.
func NewPool(ep Endpoint, user string, creationXML []byte, opts PoolOptions) (*Pool, error) {
	r := Reassembler{MaxMessage: opts.MaxMessage}
	raw, err := r.Feed(creationXML)
	if err != nil {
		return nil, err
	}
	if r.Pending() {
		return nil, errors.New("psrp: creationXml ends in the middle of a message")
	}
	var caps *SessionCapability
	var init *InitRunspacePool
	var rpid GUID
	for _, b := range raw {
		m, err := DecodeMessage(b)
		if err != nil {
			return nil, err
		}
		if m.Destination != DestinationServer {
			return nil, fmt.Errorf("psrp: creationXml's %s is addressed to the client", m.Type)
		}
		switch m.Type {
		case MsgSessionCapability:
			c, err := DecodeSessionCapability(m.Text())
			if err != nil {
				return nil, err
			}
			caps = &c
		case MsgInitRunspacePool:
			i, err := DecodeInitRunspacePool(m.Text())
			if err != nil {
				return nil, err
			}
			init, rpid = &i, m.RPID
		default:
			return nil, fmt.Errorf("psrp: creationXml carries %s; only SESSION_CAPABILITY and INIT_RUNSPACEPOOL belong there", m.Type)
		}
	}
	if caps == nil || init == nil {
		return nil, errors.New("psrp: creationXml must carry SESSION_CAPABILITY and INIT_RUNSPACEPOOL")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		ep: ep, user: user, opts: opts, ctx: ctx, cancel: cancel, rpid: rpid, client: *caps,
		out: newOutbox(), opened: make(chan struct{}), done: make(chan struct{}),
		state: PoolOpening, max: init.MaxRunspaces, slotWake: make(chan struct{}),
		pipelines: map[string]*Pipeline{}, reasm: Reassembler{MaxMessage: opts.MaxMessage},
	}
	// A real server answers SESSION_CAPABILITY with a zero RPID (captured from Windows
	// Server 2008 R2 and 2016), then addresses everything else to the pool.
	p.send(ctx, MsgSessionCapability, GUID{}, GUID{}, SessionCapabilityData())
	p.send(ctx, MsgApplicationPrivateData, rpid, GUID{}, ApplicationPrivateDataData())
	p.wg.Add(1)
	go p.open()
	return p, nil
}

// ClientCapability is what the client announced.
func (p *Pool) ClientCapability() SessionCapability { return p.client }

// MaxRunspaces is the number of pipelines the pool runs at once.
func (p *Pool) MaxRunspaces() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

func (p *Pool) send(ctx context.Context, t MessageType, rpid, pid GUID, data []byte) error {
	m := Message{Destination: DestinationClient, Type: t, RPID: rpid, PID: pid, Data: data}
	return p.out.put(ctx, p.oid.Add(1), m.Encode())
}

func (p *Pool) open() {
	defer p.wg.Done()
	defer close(p.opened)
	rs, err := p.callOpen()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if rs != nil {
			rs.Close()
		}
		return
	}
	if err != nil {
		p.state = PoolBroken
		p.mu.Unlock()
		rec := &ps.ErrorRecord{Message: err.Error(), Category: "OpenError", ErrorID: "RemoteRunspaceOpenFailed",
			ExceptionType: "System.Management.Automation.Remoting.PSRemotingTransportException"}
		var er *ps.ErrorRecord
		if errors.As(err, &er) {
			rec = er
		}
		_ = p.send(p.ctx, MsgRunspacePoolState, p.rpid, GUID{}, RunspacePoolStateData(PoolBroken, rec))
		return
	}
	p.rs, p.state = rs, PoolOpened
	p.mu.Unlock()
	_ = p.send(p.ctx, MsgRunspacePoolState, p.rpid, GUID{}, RunspacePoolStateData(PoolOpened, nil))
}

// callOpen runs Endpoint.Open, turning a panic into a refused session.
func (p *Pool) callOpen() (rs Runspace, err error) {
	defer func() {
		if r := recover(); r != nil {
			rs, err = nil, fmt.Errorf("the lab's Exchange endpoint failed while opening the session: %v", r)
		}
	}()
	rs, err = p.ep.Open(p.ctx, p.user)
	if err == nil && rs == nil {
		err = errors.New("the lab's Exchange endpoint opened no session")
	}
	return rs, err
}

// Take returns the pool's waiting fragments (see outbox.take); Wait wakes on change.
func (p *Pool) Take(budget, overhead int) ([][]byte, bool) {
	packets, _, ready := p.out.take(budget, overhead)
	return packets, ready
}

// Wait returns a channel closed when the pool's outbox changes.
func (p *Pool) Wait() <-chan struct{} { return p.out.waitChan() }

// errNotOpened is returned for a pipeline created before the pool opened or after it broke.
var errNotOpened = errors.New("psrp: the runspace pool is not open: wait for RUNSPACEPOOL_STATE Opened before creating pipelines")

// CreatePipeline starts the pipeline a client's Command carries (rsp:Arguments:
// fragments of CREATE_PIPELINE). id is the CommandId the server chose. The pipeline waits
// for a free runspace (MaxRunspaces run at once) and then runs. A CREATE_PIPELINE too
// large for one envelope starts in the Command and continues in Sends to the new command
// (as pypsrp sends it); the pipeline starts when its last fragment has arrived.
func (p *Pool) CreatePipeline(id string, arguments []byte) (*Pipeline, error) {
	p.mu.Lock()
	opened := !p.closed && p.state == PoolOpened
	p.mu.Unlock()
	if !opened {
		return nil, errNotOpened
	}
	ctx, cancel := context.WithCancel(p.ctx)
	pl := &Pipeline{ID: id, pool: p, out: newOutbox(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	pl.input.MaxMessage = p.opts.MaxMessage
	raw, err := pl.input.Feed(arguments)
	if err == nil && (len(raw) > 1 || len(raw) == 0 && !pl.input.Pending()) {
		err = fmt.Errorf("psrp: a Command's arguments must carry one CREATE_PIPELINE message, not %d", len(raw))
	}
	if err == nil && len(raw) == 1 {
		err = pl.prepare(raw[0])
	}
	if err != nil {
		cancel()
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cancel()
		return nil, errNotOpened
	}
	key := strings.ToUpper(id)
	p.pipelines[key] = pl
	p.order = append(p.order, key)
	p.pruneLocked()
	p.mu.Unlock()
	if len(raw) == 1 {
		pl.start()
	}
	return pl, nil
}

// prepare reads the pipeline's CREATE_PIPELINE.
func (pl *Pipeline) prepare(raw []byte) error {
	p := pl.pool
	m, err := DecodeMessage(raw)
	if err != nil {
		return err
	}
	if m.RPID != p.rpid {
		return fmt.Errorf("psrp: the %s names runspace pool %s, but this shell's pool is %s", m.Type, m.RPID, p.rpid)
	}
	switch m.Type {
	case MsgCreatePipeline:
	case MsgGetCommandMetadata:
		return errors.New("psrp: GET_COMMAND_METADATA is not supported by the lab's endpoint: call the commands directly")
	default:
		return fmt.Errorf("psrp: a Command carries %s; expected CREATE_PIPELINE", m.Type)
	}
	cp, err := DecodeCreatePipeline(m.Text())
	if err != nil {
		return err
	}
	pl.pid, pl.cmds = m.PID, cp.Commands
	return nil
}

// start runs a prepared pipeline, once.
func (pl *Pipeline) start() {
	pl.startMu.Lock()
	defer pl.startMu.Unlock()
	if pl.started {
		return
	}
	pl.started = true
	pl.pool.mu.Lock()
	closed := pl.pool.closed
	if !closed {
		pl.pool.wg.Add(1)
	}
	pl.pool.mu.Unlock()
	if closed {
		pl.out.finish()
		close(pl.done)
		return
	}
	go pl.run()
}

// pruneLocked forgets the oldest finished pipelines beyond maxKeptPipelines.
func (p *Pool) pruneLocked() {
	for len(p.order) > maxKeptPipelines {
		dropped := false
		for i, id := range p.order {
			pl := p.pipelines[id]
			if pl == nil || pl.finished() {
				delete(p.pipelines, id)
				p.order = append(p.order[:i:i], p.order[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}

// Pipeline returns a pipeline by its CommandId, or nil.
func (p *Pool) Pipeline(id string) *Pipeline {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipelines[strings.ToUpper(strings.TrimSpace(id))]
}

// Forget drops a pipeline (a terminate signal): it is stopped if still running.
func (p *Pool) Forget(id string) {
	p.mu.Lock()
	key := strings.ToUpper(strings.TrimSpace(id))
	pl := p.pipelines[key]
	delete(p.pipelines, key)
	p.mu.Unlock()
	if pl != nil {
		pl.Stop()
		pl.out.close()
	}
}

// acquire waits for a free runspace.
func (p *Pool) acquire(ctx context.Context) bool {
	p.mu.Lock()
	for p.running >= p.max {
		wake := p.slotWake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
		p.mu.Lock()
	}
	p.running++
	p.mu.Unlock()
	return true
}

func (p *Pool) release() {
	p.mu.Lock()
	p.running--
	close(p.slotWake)
	p.slotWake = make(chan struct{})
	p.mu.Unlock()
}

// Input takes a pool-level Send (no CommandId): SET_MAX_RUNSPACES, SET_MIN_RUNSPACES and
// GET_AVAILABLE_RUNSPACES are answered with RUNSPACE_AVAILABILITY.
func (p *Pool) Input(packet []byte) error {
	p.mu.Lock()
	raw, err := p.reasm.Feed(packet)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	for _, b := range raw {
		m, err := DecodeMessage(b)
		if err != nil {
			return err
		}
		root, err := parseCLIXML(m.Text())
		if err != nil {
			return err
		}
		d := newDecoder()
		ci := int64(0)
		// PowerShell writes the call id as "ci", pypsrp's SET_MAX_RUNSPACES as "CI".
		n := root.prop("ci")
		if n == nil {
			n = root.prop("CI")
		}
		if n != nil {
			if v, err := d.value(n); err == nil {
				if i, ok := v.(int); ok {
					ci = int64(i)
				}
			}
		}
		switch m.Type {
		case MsgSetMaxRunspaces, MsgSetMinRunspaces:
			prop := "MaxRunspaces"
			if m.Type == MsgSetMinRunspaces {
				prop = "MinRunspaces"
			}
			ok := false
			if n := root.prop(prop); n != nil {
				if v, err := d.value(n); err == nil {
					if i, isInt := v.(int); isInt && i >= 1 {
						ok = true
						if m.Type == MsgSetMaxRunspaces {
							p.mu.Lock()
							p.max = i
							close(p.slotWake)
							p.slotWake = make(chan struct{})
							p.mu.Unlock()
						}
					}
				}
			}
			_ = p.send(p.ctx, MsgRunspaceAvailability, p.rpid, GUID{}, RunspaceAvailabilityData(ok, ci))
		case MsgGetAvailableRunspaces:
			p.mu.Lock()
			free := max(p.max-p.running, 0)
			p.mu.Unlock()
			_ = p.send(p.ctx, MsgRunspaceAvailability, p.rpid, GUID{}, RunspaceAvailabilityData(free, ci))
		default:
			return fmt.Errorf("psrp: %s is not a message the lab's pool accepts", m.Type)
		}
	}
	return nil
}

// Close stops every pipeline and closes the session (Runspace.Close) once they have
// returned. It does not wait; Done is closed when it has finished.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	pls := make([]*Pipeline, 0, len(p.pipelines))
	for _, pl := range p.pipelines {
		pls = append(pls, pl)
	}
	p.mu.Unlock()
	for _, pl := range pls {
		pl.Stop()
	}
	p.cancel()
	p.out.close()
	go func() {
		p.wg.Wait()
		p.mu.Lock()
		rs := p.rs
		p.rs = nil
		p.mu.Unlock()
		if rs != nil {
			rs.Close()
		}
		close(p.done)
	}()
}

// Done is closed when a closed pool has released its session.
func (p *Pool) Done() <-chan struct{} { return p.done }

// Pipeline is one pipeline of a pool: a Command on the shell.
type Pipeline struct {
	ID     string // the CommandId
	pid    GUID
	pool   *Pool
	cmds   []Command
	out    *outbox
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	stopped atomic.Bool
	input   Reassembler // guarded by inputMu
	inputMu sync.Mutex
	startMu sync.Mutex
	started bool // guarded by startMu
}

// Commands returns the pipeline's commands as the client sent them.
func (pl *Pipeline) Commands() []Command { return pl.cmds }

// Stop stops the pipeline (a client's stop signal): its context ends, and it ends in
// state Stopped.
func (pl *Pipeline) Stop() {
	pl.stopped.Store(true)
	pl.cancel()
	// One whose CREATE_PIPELINE never finished arriving ends here.
	pl.startMu.Lock()
	defer pl.startMu.Unlock()
	if !pl.started {
		pl.started = true
		pl.final(nil)
		pl.out.finish()
		close(pl.done)
	}
}

func (pl *Pipeline) finished() bool {
	select {
	case <-pl.done:
		return true
	default:
		return false
	}
}

// Ended is closed when the pipeline has sent its final state.
func (pl *Pipeline) Ended() <-chan struct{} { return pl.done }

// Take returns the pipeline's waiting fragments; done is true once its final state has
// been taken.
func (pl *Pipeline) Take(budget, overhead int) (packets [][]byte, done, ready bool) {
	return pl.out.take(budget, overhead)
}

// Wait returns a channel closed when the pipeline's outbox changes.
func (pl *Pipeline) Wait() <-chan struct{} { return pl.out.waitChan() }

// Input takes a Send for the pipeline: the rest of its CREATE_PIPELINE, then
// PIPELINE_INPUT and END_OF_PIPELINE_INPUT. The lab's Exchange commands take no pipeline
// input, so those objects are checked and dropped.
func (pl *Pipeline) Input(packet []byte) error {
	pl.inputMu.Lock()
	defer pl.inputMu.Unlock()
	raw, err := pl.input.Feed(packet)
	if err != nil {
		return err
	}
	for _, b := range raw {
		if pl.cmds == nil {
			if err := pl.prepare(b); err != nil {
				pl.Stop()
				return err
			}
			pl.start()
			continue
		}
		m, err := DecodeMessage(b)
		if err != nil {
			return err
		}
		switch m.Type {
		case MsgPipelineInput:
			if _, err := DecodeValue(m.Text()); err != nil {
				return err
			}
		case MsgEndOfPipelineInput:
		default:
			return fmt.Errorf("psrp: %s cannot be sent to a pipeline", m.Type)
		}
	}
	return nil
}

func (pl *Pipeline) send(t MessageType, data []byte) {
	// Output after a stop is dropped: the client asked for no more.
	_ = pl.pool.sendTo(pl.ctx, pl.out, t, pl.pid, data)
}

func (p *Pool) sendTo(ctx context.Context, o *outbox, t MessageType, pid GUID, data []byte) error {
	m := Message{Destination: DestinationClient, Type: t, RPID: p.rpid, PID: pid, Data: data}
	return o.put(ctx, p.oid.Add(1), m.Encode())
}

func (pl *Pipeline) run() {
	p := pl.pool
	defer p.wg.Done()
	defer close(pl.done)
	defer pl.out.finish()
	if !p.acquire(pl.ctx) {
		pl.final(nil)
		return
	}
	defer p.release()
	p.mu.Lock()
	rs := p.rs
	p.mu.Unlock()
	if rs == nil {
		pl.final(errNotOpened)
		return
	}
	pl.final(pl.invoke(rs))
}

// invoke calls Runspace.Invoke, turning a panic into a failed pipeline.
func (pl *Pipeline) invoke(rs Runspace) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &ps.ErrorRecord{Message: fmt.Sprintf("The lab's Exchange endpoint failed while running this pipeline: %v", r),
				Category: "NotSpecified", ErrorID: "LabEndpointPanic"}
		}
	}()
	return rs.Invoke(pl.ctx, pl.cmds, output{pl})
}

// final sends the pipeline's state: Stopped when the client stopped it, Failed with the
// terminating error, Completed otherwise.
func (pl *Pipeline) final(err error) {
	state, reason := PipelineCompleted, (*ps.ErrorRecord)(nil)
	switch {
	case pl.stopped.Load() || (pl.ctx.Err() != nil && err == nil):
		state, reason = PipelineStopped, stoppedError()
	case err != nil:
		state = PipelineFailed
		if !errors.As(err, &reason) {
			reason = &ps.ErrorRecord{Message: err.Error(), Category: "NotSpecified", ErrorID: "RuntimeException"}
		}
	}
	// The state must reach the client even after a stop, so it is queued with the pool's
	// context, not the pipeline's.
	_ = pl.pool.sendTo(pl.pool.ctx, pl.out, MsgPipelineState, pl.pid, PipelineStateData(state, reason))
}

// output is the Output a pipeline's Invoke writes to.
type output struct{ pl *Pipeline }

// brokenCLIXML is what the malformed-CLIXML fault sends instead of an object.
var brokenCLIXML = withBOM([]byte(`<Obj RefId="0"><TN RefId="0"><T>System.String</T></TN><MS><S N="Value">unterminated`))

func (o output) Object(v any) {
	data := PipelineOutputData(v)
	if c := o.pl.pool.opts.Corrupt; c != nil && c() {
		data = brokenCLIXML
	}
	o.pl.send(MsgPipelineOutput, data)
}

func (o output) Error(rec *ps.ErrorRecord) {
	if rec == nil {
		return
	}
	o.pl.send(MsgErrorRecord, ErrorRecordData(rec))
}

func (o output) Warning(text string) {
	o.pl.send(MsgWarningRecord, InformationalRecordData(WarningRecordType, text))
}

func (o output) Verbose(text string) {
	o.pl.send(MsgVerboseRecord, InformationalRecordData(VerboseRecordType, text))
}

func (o output) Progress(activityID int, activity, status string, percent int, completed bool) {
	o.pl.send(MsgProgressRecord, ProgressRecordData(activityID, activity, status, percent, completed))
}

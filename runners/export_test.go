package runners

import "github.com/exchops/exchops/commands"

// LockRefs reports how many Executes and RunLocked calls hold or wait for key, so that
// tests outside the package can see a second change queue behind the first.
func LockRefs(w *WinRM, key string) int {
	w.locks.mu.Lock()
	defer w.locks.mu.Unlock()
	if k := w.locks.locks[key]; k != nil {
		return k.refs
	}
	return 0
}

// CreatePipelineMessage is the CREATE_PIPELINE data the runner sends for call, for
// checking it with the lab's independent decoder.
func CreatePipelineMessage(call commands.Call) ([]byte, error) { return createPipeline(call) }

// SessionMessages are the SESSION_CAPABILITY and INIT_RUNSPACEPOOL data of a session.
func SessionMessages(max int) (capability, init []byte) {
	return sessionCapability(), initRunspacePool(max)
}

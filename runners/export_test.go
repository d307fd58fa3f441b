package runners

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

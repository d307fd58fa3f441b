package schedules

// ForgetReadErrors drops what a report keeps for the log only (ReadErrors), which
// JSON does not carry: for tests that hold the rest of the report to its JSON.
func ForgetReadErrors(r *Report) { r.readErrors = nil }

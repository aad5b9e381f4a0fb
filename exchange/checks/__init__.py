"""Row checks: pure functions from parsed rows and a per-file context to Findings."""

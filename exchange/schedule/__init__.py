"""Scheduled work: jobs/*.toml (data) -> APScheduler; each job is a plain function."""

"""The operator's view: what waits where (state), readiness (health), the HTTP endpoint serving
metrics and health (http), and `exchange status` (status). Counters live in exchange.metrics."""

"""The unit's view: what a unit finds in its outbox between receipts and results (issue 16)."""

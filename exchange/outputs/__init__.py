"""What the system writes: receipts, workbooks, rosters, photos. One door writes to outboxes."""

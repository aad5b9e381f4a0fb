"""After import: submission in numbered batches, the centre's review, and its effects."""

"""The SFTP service: one login per unit, `/inbox` to write and `/outbox` to read (DESIGN §7)."""

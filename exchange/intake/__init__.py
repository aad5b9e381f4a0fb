"""Intake: which files are ready, claiming them, and placing them when done."""

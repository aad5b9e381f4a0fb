"""Persistence: SQLAlchemy 2 models, engine and Alembic migrations."""

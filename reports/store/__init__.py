"""The results store: an index of sessions (SQLite embedded, PostgreSQL for a lab) and its pandas frames."""

"""The PostgreSQL store: the same ports as SQLite, for many processes on many machines."""

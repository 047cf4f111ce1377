"""Pure domain rules: no database, HTTP, broker or clock."""

"""The in-memory store: a real, transactional implementation of the repository ports."""

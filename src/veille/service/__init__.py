"""Service layer: use cases, one transaction each, through a unit of work."""

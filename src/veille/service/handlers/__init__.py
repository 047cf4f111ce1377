"""Command and event handlers, one module per feature; `bootstrap` binds their
dependencies and registers them on the message bus."""

"""NATS JetStream ingest: a sink that makes reads durable in a replicated stream, and the
workers that store them (docs/decisions/0016-jetstream-ingest.md)."""

"""Kafka-side security: each principal's ACLs, derived from the topic names (ADR 045)."""

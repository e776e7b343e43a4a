"""Ingestion: connector payloads into the store, archived, validated, checkpointed, never half written."""

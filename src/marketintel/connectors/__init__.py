"""Connectors: one per published source, each mostly a format mapping and a URL builder on the SDK."""

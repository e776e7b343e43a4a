"""The HTTP service: one FastAPI application assembling each domain's router."""

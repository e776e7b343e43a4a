"""Forward curves: built from quotes (the curves issue), read through the store."""

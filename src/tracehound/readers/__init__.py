"""Readers: each source format in, one canonical table (``tracehound.schema``) out, bad records set aside."""

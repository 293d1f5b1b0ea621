"""Prometheus metrics (SPEC §11)."""

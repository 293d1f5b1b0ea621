"""Rendering the exposition text."""

from prometheus_client import generate_latest

from clarion.metrics.registry import registry


def exposition() -> bytes:
    return generate_latest(registry)

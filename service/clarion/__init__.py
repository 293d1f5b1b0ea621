"""Clarion: an event-driven notification service."""

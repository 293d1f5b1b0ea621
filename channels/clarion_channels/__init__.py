"""Clarion's built-in channel types, registered through the public plugin API."""

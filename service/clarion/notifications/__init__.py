"""Managing an event's notifications and message templates over the API (SPEC §3.3)."""

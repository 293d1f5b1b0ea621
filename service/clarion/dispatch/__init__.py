"""The dispatcher: claiming occurrences and deliveries, resolving recipients, rendering, sending, retrying."""

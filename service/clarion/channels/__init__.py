"""The service side of channels: loading plugins and running configured channel instances."""

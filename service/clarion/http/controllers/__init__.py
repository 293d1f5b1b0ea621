"""One controller module per area of the API; each handler translates HTTP to one service call."""

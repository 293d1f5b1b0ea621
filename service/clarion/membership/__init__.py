"""How users become recipients: assignments of their addresses to channels, an application's registered users, subscriptions."""

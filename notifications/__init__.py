"""Side effects after commit: the event bus, live streams and the email dispatcher."""

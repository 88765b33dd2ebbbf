"""Tests of notifications/: the event bus, alert mail, live streams."""

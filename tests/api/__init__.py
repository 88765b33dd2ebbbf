"""Tests of api/: the HTTP and websocket surface, limits, metrics, logs, processes and workers."""

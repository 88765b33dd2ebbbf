"""Transport: the ASGI app, HTTP and websocket handling, context, schema assembly, limits, metrics.

Also the web console (`console.py`, serving the static files of web/) and the runtime beside the
requests (`runtime.py`: database, event bus, mail, housekeeping, the post-commit hand-off to
notifications/).
"""

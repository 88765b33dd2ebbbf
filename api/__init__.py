"""Transport: the ASGI app, HTTP and websocket handling, context, schema assembly, limits, metrics, the web console."""

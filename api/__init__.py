"""HTTP surfaces beside the GraphQL endpoint: the web console and its static files."""

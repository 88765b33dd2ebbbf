"""Infrastructure the domain stands on: database and migrations, plain SQL, batching, request ids, tasks."""

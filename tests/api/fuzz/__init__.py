"""Every argument of every mutation (and `first`, `after`, `search`, `id` of the queries), fuzzed.

What every call must answer, decided here:
- HTTP 200 with a GraphQL body; 413 for a body above CREDITS_MAX_BODY_BYTES; 400 for a body that is
  not a GraphQL request (not JSON, not an object, `query` not a string, `variables` not an object,
  a JSON number Python refuses to read). Never a 500.
- A rejection is either a contract code in `userErrors` (with the `field` of a real problem), or a
  top-level error with our `extensions.code` (UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT), or GraphQL's
  own validation/coercion error of the request (no path, `data` null). Never "Unexpected error.",
  never a stack trace or a database's words.
- A rejected call leaves every customer's balance and ledger, and every other table, as they were.
- A call succeeds only where its input really is valid, and then it did exactly what it should.

The rules the oracles below state (beyond API.md): text is stored as given (names and emails
stripped) and must not contain NUL or unpaired surrogates, which no database column can hold;
names are 1-200 characters, notes and reasons at most 1000, idempotency keys 1-255; emails are
unique after NFKC normalisation and case folding, and both the address and its folded key fit in
254 characters.

Hypothesis drives the in-process app: pytest-asyncio 1.x runs `@given` async tests on the session
loop, so no server process is needed, and an exception escaping the app (what uvicorn would answer
500) fails the test through httpx's ASGI transport. Each example reads the whole database before
and after its call. Strategies never depend on the database (Hypothesis replays them): they draw
`Known` placeholders that `realise` turns into the ids, emails and cursors of the moment.

Here: `oracle.py` (strategies, the database before and after, the oracles, the call), `conftest.py`
(the `world`), and one file per area: `test_accounts.py`, `test_catalog.py`, `test_money.py`
(grants, withdrawals, service requests), `test_notifications.py`, `test_queries.py`, `test_bodies.py`
(malformed bodies, the size limit, text no database can hold).
Examples per test: CREDITS_HYPOTHESIS_EXAMPLES (default 40; about a minute on SQLite).
"""

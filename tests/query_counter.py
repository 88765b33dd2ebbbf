"""Count the SQL statements a block of code sends, through whichever Tortoise connection it uses."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tortoise import connections

_METHODS = ("execute_query", "execute_query_dict", "execute_insert", "execute_many", "execute_script")
# The statements of the counting task and the tasks it starts (a DataLoader's batch, a gather);
# not those of tasks running beside it (the mail dispatcher, housekeeping).
_statements: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("statements", default=None)
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("inside_execute", default=False)


def _counted(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(self: object, query: str, *args: Any, **kwargs: Any) -> Any:
        statements = _statements.get()
        if statements is None or _inside.get():  # one statement, however the client delegates
            return await method(self, query, *args, **kwargs)
        statements.append(query)
        token = _inside.set(True)
        try:
            return await method(self, query, *args, **kwargs)
        finally:
            _inside.reset(token)

    return wrapper


@contextmanager
def patched() -> Iterator[None]:
    """Wrap the execute methods of the default connection's class and of its transaction class."""
    base = type(connections.get("default"))
    saved: list[tuple[type, str, object]] = []
    for cls in (base, *base.__subclasses__()):
        for name in _METHODS:
            if name in cls.__dict__:
                saved.append((cls, name, cls.__dict__[name]))
                setattr(cls, name, _counted(cls.__dict__[name]))
    try:
        yield
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)


class QueryCounter:
    """`with counter.counting() as statements:` collects the SQL sent inside the block."""

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """The statements sent by this task (and the tasks it starts) while the block runs."""
        statements: list[str] = []
        token = _statements.set(statements)
        try:
            yield statements
        finally:
            _statements.reset(token)

"""graphql-core's executor, without two ways it keeps memory it no longer needs (graphql-core 3.3.2).

A subscription's per-event executor is a shallow copy of the subscription's: it shared the memo
of collected subfields (`_relevant_sub_fields`, and `_stream_usages`), keyed by `id()` of lists
made anew for each event and kept alive with them. Every open operation grew ~1.1 KB per event
it delivered until it closed; each event gets fresh ones here.

Every executor refers to itself through `async_helpers` (bound methods): a reference cycle, so
it and everything it reaches (the context, hence the request and its body; the operation's
extensions) waited for a full garbage collection, which a large heap runs rarely. A 900 KB body
kept ~1.7 MB alive per request, without bound. The helpers here reach the executor weakly.
tests/api/test_executor.py fails if graphql-core's behaviour changes under these overrides.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfoHelpers
from graphql.pyutils import RefMap
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


def _weakly(method: Any) -> Callable[..., Any]:
    """`method`, calling through a weak reference to its object (alive while it executes)."""
    reference = weakref.WeakMethod(method)

    def call(*args: Any, **kwargs: Any) -> Any:
        return reference()(*args, **kwargs)  # type: ignore[misc]

    return call


class Executor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor: no self-reference cycle, and a fresh memo for every subscription event."""

    hide_suggestions_always = False

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """Build as graphql-core does (with `hide_suggestions` on, for SuggestionlessExecutor)."""
        if cls.hide_suggestions_always:
            kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._weak_helpers()

    def _weak_helpers(self) -> None:
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_weakly(self.gather_async_work), track=_weakly(self.track_async_work)
        )

    def build_per_event_executor(self, payload: Any) -> Any:
        """graphql-core's copy, with its own memo of collected subfields and its own helpers."""
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor._stream_usages = RefMap()
        executor._weak_helpers()
        return executor


class SuggestionlessExecutor(Executor):
    """The executor, leaving "Did you mean …" out of variable coercion errors (production)."""

    hide_suggestions_always = True

"""The executor frees what an operation or an event kept, without waiting for a garbage collection.

These fail if a graphql-core release changes its executor under api/executor.py's overrides.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import build_schema, parse

from api.executor import Executor, SuggestionlessExecutor
from api.schema import build_schema as build_api_schema

GREETINGS = build_schema(
    """
    type Query { dummy: String }
    type Greeting { text: String, words: [Word] }
    type Word { text: String }
    type Subscription { greeting: Greeting }
    """
)
SUBSCRIPTION = parse("subscription { greeting { text words { text } } }")


class Caller:
    """A context value that can be watched (a weak reference says when it is freed)."""


@pytest.fixture
def no_collection() -> Iterator[None]:
    """Only reference counting frees objects meanwhile: what a cycle holds stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def event(i: int) -> dict[str, Any]:
    """A subscription event's payload."""
    return {"greeting": {"text": f"hello {i}", "words": [{"text": "hello"}, {"text": str(i)}]}}


def test_subscription_events_leave_no_memory_behind(no_collection):
    """2,000 events of one open subscription keep nothing of theirs (graphql-core 3.3.2: ~1.1 KB each)."""
    # given
    subscription = Executor.build(GREETINGS, SUBSCRIPTION)
    for i in range(100):
        subscription.build_per_event_executor(event(i)).execute_operation()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]

        # when
        for i in range(2000):
            result = subscription.build_per_event_executor(event(i)).execute_operation()
            assert result.errors is None, result.errors

        # then
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, f"+{grown} bytes after 2,000 events"


@pytest.mark.parametrize("executor_class", [Executor, SuggestionlessExecutor])
def test_an_executed_operation_frees_its_context_without_a_collection(no_collection, executor_class):
    """An executor does not refer to itself: its context (a request and its body) goes when it ends."""
    # given
    caller = Caller()
    watched = weakref.ref(caller)
    executor = executor_class.build(GREETINGS, parse("{ dummy }"), context_value=caller)

    # when
    assert executor.execute_operation().errors is None
    del executor, caller

    # then
    assert watched() is None


async def test_a_refused_over_long_document_frees_its_context_without_a_collection(settings, no_collection):
    """A document refused by its length (a syntax error) keeps neither its text nor its caller."""
    # given
    schema = build_api_schema(settings)
    caller = Caller()
    watched = weakref.ref(caller)
    document = "query { __typename } #" + "x" * settings.max_query_length

    # when
    result = await schema.execute(document, context_value=caller)
    assert "more than" in result.errors[0].message
    del result, caller

    # then
    assert watched() is None


async def test_an_executed_query_frees_its_context_without_a_collection(settings, no_collection):
    """A query that ran (with operation extensions) keeps neither them nor its caller."""
    # given
    schema = build_api_schema(settings)
    caller = Caller()
    watched = weakref.ref(caller)

    # when
    result = await schema.execute(
        "query { __typename }", context_value=caller, operation_extensions={"padding": "x" * 1000}
    )
    assert result.errors is None
    del result, caller

    # then
    assert watched() is None

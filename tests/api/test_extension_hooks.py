"""api/extension_hooks.py: each extension class's hooks worked out once, run as Strawberry runs them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from api.extension_hooks import CachedHooksRunner


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("broken")


def recording(log: list[str]) -> type[SchemaExtension]:
    """An extension with every kind of hook Strawberry accepts, writing what runs into `log`."""

    class Recording(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("operation start")
            yield
            result = self.execution_context.result
            log.append(f"operation end {'errors' if result and result.errors else 'ok'}")

        def on_parse(self) -> Iterator[None]:
            log.append("parse start")
            yield
            log.append("parse end")

        def on_validate(self) -> None:
            log.append("validate (plain function)")

        def on_execute(self) -> Iterator[None]:
            log.append("execute start")
            try:
                yield
            finally:
                log.append("execute end")

    return Recording


class CachedSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)


async def run(schema_class: type[strawberry.Schema], query: str) -> tuple[list[str], Any]:
    log: list[str] = []
    extension = recording(log)
    schema = schema_class(query=Query, extensions=[extension, extension])
    result = await schema.execute(query)
    return log, result


@pytest.mark.parametrize("query", ["{ hello }", "{ broken }", "{ nosuchfield }", "{ hello"])
async def test_hooks_run_in_strawberrys_order_with_its_outcome(query: str) -> None:
    # given: two instances of an extension with async generator, generator and plain hooks
    # when: the same document runs under Strawberry's runner and under the cached one
    theirs, their_result = await run(strawberry.Schema, query)
    ours, our_result = await run(CachedSchema, query)

    # then: the same hooks ran in the same order, and the answers are the same
    assert ours == theirs
    assert our_result.data == their_result.data
    assert [e.message for e in our_result.errors or []] == [e.message for e in their_result.errors or []]


async def test_the_production_schema_wraps_no_hook_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: the production schema, warmed up by one request
    from api.schema import build_schema
    from settings import Settings

    production = build_schema(Settings(env="production", jwt_secret="x" * 32))
    document = "query Again { __typename }"
    assert (await production.execute(document)).errors is None
    wrapped: list[object] = []
    original = contextlib.contextmanager

    def counted(function: Any) -> Any:
        wrapped.append(function)
        return original(function)

    monkeypatch.setattr(contextlib, "contextmanager", counted)

    # when: the same request runs again
    result = await production.execute(document)

    # then: no hook was wrapped anew (Strawberry's runner wraps each generator hook per request)
    assert result.errors is None
    assert wrapped == []

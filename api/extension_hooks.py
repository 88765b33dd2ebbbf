"""Strawberry's extension runner, without working out every hook of every extension per request.

For each of a request's four stages (operation, parse, validate, execute) Strawberry asks every
extension for its hook afresh: `inspect` checks whether it is a generator, then
`contextlib.contextmanager` wraps it, copying its name and docstring with `functools.wraps`. With
our five extensions that was 20 look-ups and 7 wrappers a request, 2% (py-spy) to 3% (cProfile) of
the CPU of a `requestService` in the lean bench scenario (issue 19). What kind of hook a class has
is the same every time: here it is worked out once per extension class and stage, and a generator
hook becomes its context manager directly. Hooks run as before: same order, same exceptions
thrown into them.
"""

from __future__ import annotations

import inspect
from contextlib import _AsyncGeneratorContextManager, _GeneratorContextManager
from enum import Enum
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner


class _Kind(Enum):
    NONE = "none"  # the class keeps SchemaExtension's default: no hook for this stage
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"
    OTHER = "other"  # a plain or async function: Strawberry's own wrapping (no extension of ours)


# Keyed by class, so as many entries as extension classes times stages: a handful, never client input.
_kinds: dict[tuple[type[SchemaExtension], str], tuple[_Kind, Any]] = {}


def _kind(extension: SchemaExtension, stage: str) -> tuple[_Kind, Any]:
    """What the extension's class has for `stage`, and the function; looked at once per class."""
    key = (type(extension), stage)
    found = _kinds.get(key)
    if found is None:
        function = getattr(type(extension), stage)
        if function is getattr(SchemaExtension, stage):
            found = (_Kind.NONE, None)
        elif inspect.isgeneratorfunction(function):
            found = (_Kind.GENERATOR, function)
        elif inspect.isasyncgenfunction(function):
            found = (_Kind.ASYNC_GENERATOR, function)
        else:
            found = (_Kind.OTHER, function)
        _kinds[key] = found
    return found


class _CachedHooks(ExtensionContextManagerBase):
    """Strawberry's context manager for one stage, with `get_hook` from the per-class kinds."""

    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        """The extension's hook for this stage as a context manager factory (None if it has none)."""
        kind, function = _kind(extension, self.HOOK_NAME)
        if kind is _Kind.NONE:
            return None
        if kind is _Kind.GENERATOR:
            return WrappedHook(
                extension, partial(_GeneratorContextManager, function, (extension,), {}), False
            )
        if kind is _Kind.ASYNC_GENERATOR:
            return WrappedHook(
                extension, partial(_AsyncGeneratorContextManager, function, (extension,), {}), True
            )
        return super().get_hook(extension)


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class CachedHooksRunner(SchemaExtensionsRunner):
    """Strawberry's runner whose stages use the per-class hook kinds (stream results unchanged)."""

    def operation(self) -> OperationContextManager:
        """The operation stage."""
        return _Operation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        """The parse stage."""
        return _Parsing(self.extensions)

    def validation(self) -> ValidationContextManager:
        """The validation stage."""
        return _Validation(self.extensions)

    def executing(self) -> ExecutingContextManager:
        """The execution stage."""
        return _Executing(self.extensions)

"""Idempotency keys: a repeat returns the first successful result and changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from infra import sql
from models.actor import Actor
from models.errors import DomainError, ErrorCode
from models.input_text import bounded
from models.unit_of_work import UnitOfWork, run_in_transaction

MAX_KEY_LENGTH = 255
_ATTEMPTS = 3


class IdempotencyRecord(Model):
    """A key claimed by a caller for one operation, with its arguments' fingerprint and result."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    actor = fields.ForeignKeyField("models.User", related_name="idempotency_records")
    operation = fields.CharField(max_length=40)
    key = fields.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = fields.CharField(max_length=64)
    result_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("actor_id", "operation", "key"),)
        indexes = (("created_at",),)  # pruning finds expired records by age


class _Identified(Protocol):
    id: uuid.UUID


Result = TypeVar("Result", bound=_Identified)


class _KeyTaken(Exception):
    """Another transaction claimed the key first; read its result."""


def fingerprint(*arguments: object) -> str:
    """A stable digest of normalised arguments (hundredths, resolved ids, note)."""
    return hashlib.sha256(json.dumps(arguments, default=str).encode()).hexdigest()


def validate_key(key: str | None, argument: str) -> str | None:
    """Keys are 1 to 255 characters."""
    return (
        None
        if key is None
        else bounded(key, "idempotencyKey", argument, min_length=1, max_length=MAX_KEY_LENGTH)
    )


async def run_once(
    actor: Actor,
    operation: str,
    key: str | None,
    digest: str,
    action: Callable[[UnitOfWork], Awaitable[Result]],
    load: Callable[[uuid.UUID], Awaitable[Result]],
) -> Result:
    """Run `action` in one transaction, at most once per (caller, operation, key).

    A repeat returns the first result, read back with `load`.
    """
    if key is None:
        return await run_in_transaction(action)

    async def claimed_then_run(uow: UnitOfWork) -> Result | uuid.UUID:
        prior = await IdempotencyRecord.get_or_none(
            using_db=uow.conn, actor_id=actor.user_id, operation=operation, key=key
        )
        if prior is not None:
            return _replay(prior, digest)
        # Claiming the key first makes racing repeats wait here, not after the work.
        try:
            record = await IdempotencyRecord.create(
                using_db=uow.conn, actor_id=actor.user_id, operation=operation, key=key, fingerprint=digest
            )
        except IntegrityError as exc:
            raise _KeyTaken from exc
        result = await action(uow)
        record.result_id = result.id
        await record.save(using_db=uow.conn, update_fields=["result_id"])
        return result

    for _ in range(_ATTEMPTS):
        try:
            outcome = await run_in_transaction(claimed_then_run)
        except _KeyTaken:
            continue
        return await load(outcome) if isinstance(outcome, uuid.UUID) else outcome
    raise RuntimeError(f"idempotency key for {operation} stayed contended")


async def prior_result(
    uow: UnitOfWork, actor: Actor, operation: str, key: str, digest: str
) -> uuid.UUID | None:
    """The first result of this key (None if unused); IDEMPOTENCY_CONFLICT for other arguments."""
    prior = await IdempotencyRecord.get_or_none(
        using_db=uow.conn, actor_id=actor.user_id, operation=operation, key=key
    )
    return None if prior is None else _replay(prior, digest)


_CLAIM = (
    'INSERT INTO "idempotency_record" ("id", "actor_id", "operation", "key", "fingerprint", "result_id", '
    '"created_at") VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}) '
    'ON CONFLICT ("actor_id", "operation", "key") DO NOTHING RETURNING "id"'
)


async def claim(
    uow: UnitOfWork, actor: Actor, operation: str, key: str, digest: str, result_id: uuid.UUID
) -> bool:
    """Claim a key for `result_id` in the caller's transaction; False if another claim won.

    ON CONFLICT instead of an error: on PostgreSQL an error would abort the whole transaction,
    which may carry other callers' work. A racing claim makes this wait until its transaction ends.
    """
    now = dt.datetime.now(dt.UTC)
    values = (uuid.uuid4(), actor.user_id, operation, key, digest, result_id, now)
    return bool(await sql.fetch(uow.conn, _CLAIM, *values))


_RELEASE = (
    'DELETE FROM "idempotency_record" WHERE "actor_id" = {0} AND "operation" = {1} AND "key" = {2} '
    'RETURNING "id"'
)


async def release(uow: UnitOfWork, actor: Actor, operation: str, key: str) -> None:
    """Give up a key claimed in this transaction (its work was refused): a retry is new again."""
    await sql.fetch(uow.conn, _RELEASE, actor.user_id, operation, key)


_PRUNE = (
    'DELETE FROM "idempotency_record" WHERE "id" IN (SELECT "id" FROM "idempotency_record" '
    'WHERE "created_at" < {0} LIMIT {1}) RETURNING "id"'
)


async def prune(before: dt.datetime, chunk: int = 1000) -> int:
    """Delete the records claimed before `before`, `chunk` per transaction; returns how many.

    A key whose record is gone is new again: the contract keeps keys at least 24 hours.
    """
    pruned = 0
    while True:
        deleted = len(await run_in_transaction(lambda uow: sql.fetch(uow.conn, _PRUNE, before, chunk)))
        pruned += deleted
        if deleted < chunk:
            return pruned


def _replay(prior: IdempotencyRecord, digest: str) -> uuid.UUID:
    """The first result, or IDEMPOTENCY_CONFLICT when the arguments differ."""
    if prior.fingerprint != digest or prior.result_id is None:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this idempotencyKey was used with other arguments",
            "idempotencyKey",
        )
    return prior.result_id

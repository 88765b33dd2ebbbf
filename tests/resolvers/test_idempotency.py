"""API.md rule 4: idempotency keys of grantCredits, withdrawCredits and requestService."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from models import idempotency
from models.idempotency import IdempotencyRecord
from models.user import Role
from settings import Settings
from tests.client import GraphQLClient
from tests.client import user_errors as errors
from tests.documents import (
    CUSTOMER_LEDGER_AND_REQUESTS,
    GRANT_CREDITS,
    REQUEST_SERVICE,
    SET_SERVICE_PRICE,
    WITHDRAW_CREDITS,
)
from tests.factories import (
    Login,
    World,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
    make_world,
)

CANCEL = """
mutation ($id: ID!) { cancelServiceRequest(id: $id) { serviceRequest { status } userErrors { code } } }
"""

DOCUMENTS = {
    "grantCredits": GRANT_CREDITS,
    "withdrawCredits": WITHDRAW_CREDITS,
    "requestService": REQUEST_SERVICE,
}


@pytest.fixture
async def world() -> World:
    """Credit management on, Acme at 100.00 with its administrator, a 40.00 service."""
    return await make_world("Acme", balance=100, end_users=0)


async def call(gql: GraphQLClient, operation: str, caller: Login, **input: Any) -> dict[str, Any]:
    """Run one of the three idempotent mutations and return its payload."""
    return (await gql(DOCUMENTS[operation], {"input": input}, token=caller.token))[operation]


async def ledger(gql: GraphQLClient, world: World) -> dict[str, Any]:
    """Balance, ledger and requests as the catalog administrator reads them."""
    return (await gql(CUSTOMER_LEDGER_AND_REQUESTS, {"id": world.cid}, token=world.admin.token))["customer"]


@pytest.mark.parametrize(("operation", "balance"), [("grantCredits", "125.00"), ("withdrawCredits", "75.00")])
async def test_repeat_returns_the_same_transaction_and_changes_once(gql, world, operation, balance):
    """The same key and arguments return the first transaction; the balance moved once."""
    # given: a first call with a key
    args = {"customerId": world.cid, "amount": "25", "note": "invoice 7", "idempotencyKey": "k-1"}
    first = await call(gql, operation, world.admin, **args)
    assert first["userErrors"] == []
    after_first = await ledger(gql, world)

    # when: it is repeated twice
    second = await call(gql, operation, world.admin, **args)
    third = await call(gql, operation, world.admin, **args)

    # then: the same transaction every time, one ledger entry, balance moved once
    assert second == first == third
    assert first["customer"]["balance"] == balance
    assert await ledger(gql, world) == after_first
    assert len(after_first["transactions"]["nodes"]) == 2


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
async def test_amount_forms_count_as_the_same(gql, world, operation):
    """ "100", 100 and "100.00" are the same amount for a key."""
    # given: a first call with the amount "100"
    first = await call(gql, operation, world.admin, customerId=world.cid, amount="100", idempotencyKey="same")
    after_first = await ledger(gql, world)

    # when: repeated with 100 and "100.00"
    as_int = await call(gql, operation, world.admin, customerId=world.cid, amount=100, idempotencyKey="same")
    as_text = await call(
        gql, operation, world.admin, customerId=world.cid, amount="100.00", idempotencyKey="same"
    )

    # then: both replay the first transaction and nothing changed
    assert as_int["userErrors"] == [] and as_text["userErrors"] == []
    assert as_int["transaction"]["id"] == as_text["transaction"]["id"] == first["transaction"]["id"]
    assert await ledger(gql, world) == after_first


async def test_request_service_repeat_returns_the_same_request(gql, world):
    """requestService with the same key and arguments returns the first request, charged once."""
    # given: a request of two units with a key
    args = {"serviceId": world.service_id, "quantity": 2, "idempotencyKey": "order-1"}
    first = await call(gql, "requestService", world.customer_admin, **args)
    assert first["serviceRequest"]["customer"]["balance"] == "20.00"
    after_first = await ledger(gql, world)

    # when: it is repeated
    again = await call(gql, "requestService", world.customer_admin, **args)

    # then: the same request, charged once
    assert again == first
    assert await ledger(gql, world) == after_first
    assert len(after_first["serviceRequests"]["nodes"]) == 1


async def test_left_out_own_customer_equals_the_explicit_one(gql, world):
    """A customer administrator's left-out customerId replays a request that named it, and vice versa."""
    # given: a request that leaves the customer out
    first = await call(
        gql, "requestService", world.customer_admin, serviceId=world.service_id, idempotencyKey="implicit"
    )
    # and: one that names it
    named = await call(
        gql,
        "requestService",
        world.customer_admin,
        serviceId=world.service_id,
        customerId=world.cid,
        idempotencyKey="explicit",
    )
    after = await ledger(gql, world)

    # when: each is repeated the other way round (quantity 1 spelled out too)
    explicit = await call(
        gql,
        "requestService",
        world.customer_admin,
        serviceId=world.service_id,
        customerId=world.cid,
        quantity=1,
        idempotencyKey="implicit",
    )
    implicit = await call(
        gql, "requestService", world.customer_admin, serviceId=world.service_id, idempotencyKey="explicit"
    )

    # then: both replay, nothing changed
    assert explicit["userErrors"] == [] and implicit["userErrors"] == []
    assert explicit["serviceRequest"]["id"] == first["serviceRequest"]["id"]
    assert implicit["serviceRequest"]["id"] == named["serviceRequest"]["id"]
    assert await ledger(gql, world) == after
    assert after["balance"] == "20.00"


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
@pytest.mark.parametrize(
    "changed",
    [
        {"note": "another note"},
        {"note": None},
        {"note": ""},
        {"amount": "10.01"},
        {"amount": 11},
        {"customerId": "other"},
    ],
    ids=["note", "note-null", "note-empty", "amount", "amount-int", "customer"],
)
async def test_other_arguments_are_an_idempotency_conflict(gql, world, operation, changed):
    """The same key with a different note, amount or customer is IDEMPOTENCY_CONFLICT and changes nothing."""
    # given: a first call with a key, and a second customer
    other = await make_customer("Other", balance=50, by=world.admin)
    args = {"customerId": world.cid, "amount": "10", "note": "first", "idempotencyKey": "k"}
    assert (await call(gql, operation, world.admin, **args))["userErrors"] == []
    before = await ledger(gql, world)
    other_before = (await gql(CUSTOMER_LEDGER_AND_REQUESTS, {"id": str(other.id)}, token=world.admin.token))[
        "customer"
    ]

    # when: the key is used with one argument changed
    repeat = {**args, **changed}
    if repeat["customerId"] == "other":
        repeat["customerId"] = str(other.id)
    payload = await call(gql, operation, world.admin, **repeat)

    # then: IDEMPOTENCY_CONFLICT on input.idempotencyKey, both ledgers untouched
    assert payload["transaction"] is None and payload["customer"] is None
    assert errors(payload) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    assert payload["userErrors"][0]["message"]
    assert await ledger(gql, world) == before
    assert (await gql(CUSTOMER_LEDGER_AND_REQUESTS, {"id": str(other.id)}, token=world.admin.token))[
        "customer"
    ] == other_before


async def test_request_service_other_arguments_conflict(gql, world):
    """requestService with the same key but another quantity or service is IDEMPOTENCY_CONFLICT."""
    # given: a first request with a key and a second service
    other_service = await make_service("1.00")
    args = {"serviceId": world.service_id, "idempotencyKey": "order"}
    assert (await call(gql, "requestService", world.customer_admin, **args))["userErrors"] == []
    before = await ledger(gql, world)

    # when: the key is reused with quantity 2, then with another service
    more = await call(gql, "requestService", world.customer_admin, **args, quantity=2)
    elsewhere = await call(
        gql, "requestService", world.customer_admin, serviceId=str(other_service.id), idempotencyKey="order"
    )

    # then: both conflict and nothing changed
    for payload in (more, elsewhere):
        assert payload["serviceRequest"] is None
        assert errors(payload) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    assert await ledger(gql, world) == before


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
async def test_failed_attempt_while_credits_off_is_not_remembered(gql, world, operation):
    """A key whose first use hit CREDIT_MANAGEMENT_DISABLED works once credits are back on."""
    # given: credit management off and a refused call with a key
    await enable_credits(False)
    args = {"customerId": world.cid, "amount": "30", "idempotencyKey": "retry-me"}
    refused = await call(gql, operation, world.admin, **args)
    assert [e["code"] for e in refused["userErrors"]] == ["CREDIT_MANAGEMENT_DISABLED"]
    before = await ledger(gql, world)

    # when: credits are turned on and the same call repeated
    await enable_credits(True)
    retried = await call(gql, operation, world.admin, **args)

    # then: it runs this time, once
    assert retried["userErrors"] == []
    assert retried["transaction"]["sequence"] == 2
    after = await ledger(gql, world)
    assert len(after["transactions"]["nodes"]) == len(before["transactions"]["nodes"]) + 1
    assert (await call(gql, operation, world.admin, **args))["transaction"] == retried["transaction"]
    assert await ledger(gql, world) == after


@pytest.mark.parametrize("bad", ["abc", "1.234", 0, 1.5, True])
async def test_failed_attempt_with_bad_amount_is_not_remembered(gql, world, bad):
    """A key first sent with a bad amount is free for a later, valid call."""
    # given: a rejected call with a key
    refused = await call(
        gql, "grantCredits", world.admin, customerId=world.cid, amount=bad, idempotencyKey="k"
    )
    assert errors(refused) == [("INVALID_AMOUNT", ["input", "amount"])]

    # when: the key is used with a valid amount
    granted = await call(
        gql, "grantCredits", world.admin, customerId=world.cid, amount="5", idempotencyKey="k"
    )

    # then: it is granted
    assert granted["userErrors"] == []
    assert granted["customer"]["balance"] == "105.00"


async def test_failed_request_is_not_remembered(gql, world):
    """A requestService key first used on an unknown service or a bad quantity works later."""
    # given: two refused requests with the same key
    missing = await call(
        gql, "requestService", world.customer_admin, serviceId="no-such-service", idempotencyKey="r"
    )
    assert errors(missing) == [("NOT_FOUND", ["input", "serviceId"])]
    zero = await call(
        gql,
        "requestService",
        world.customer_admin,
        serviceId=world.service_id,
        quantity=0,
        idempotencyKey="r",
    )
    assert errors(zero) == [("INVALID_INPUT", ["input", "quantity"])]

    # when: the key is used for a valid request
    made = await call(
        gql, "requestService", world.customer_admin, serviceId=world.service_id, idempotencyKey="r"
    )

    # then: it is charged
    assert made["userErrors"] == []
    assert made["serviceRequest"]["customer"]["balance"] == "60.00"


async def test_conflicting_note_too_long_is_not_remembered(gql, world):
    """A key first used with a too-long note (INVALID_INPUT) is free for a valid call."""
    # given: a call refused for its note
    refused = await call(
        gql,
        "grantCredits",
        world.admin,
        customerId=world.cid,
        amount="5",
        note="x" * 1001,
        idempotencyKey="n",
    )
    assert errors(refused) == [("INVALID_INPUT", ["input", "note"])]

    # when: the key is used with a valid note
    granted = await call(
        gql, "grantCredits", world.admin, customerId=world.cid, amount="5", note="ok", idempotencyKey="n"
    )

    # then: granted
    assert granted["userErrors"] == []
    assert granted["transaction"]["note"] == "ok"


async def test_keys_are_scoped_per_caller(gql, world):
    """Two catalog administrators using the same key get two separate grants."""
    # given: a second catalog administrator
    other_admin = await make_catalog_admin()
    args = {"customerId": world.cid, "amount": "10", "idempotencyKey": "shared"}

    # when: both grant with the same key and arguments
    first = await call(gql, "grantCredits", world.admin, **args)
    second = await call(gql, "grantCredits", other_admin, **args)

    # then: two transactions, balance moved twice
    assert first["userErrors"] == [] and second["userErrors"] == []
    assert first["transaction"]["id"] != second["transaction"]["id"]
    assert second["customer"]["balance"] == "120.00"
    # and: each administrator's repeat replays its own
    assert (await call(gql, "grantCredits", other_admin, **args))["transaction"] == second["transaction"]
    assert (await call(gql, "grantCredits", world.admin, **args))["transaction"] == first["transaction"]
    assert (await ledger(gql, world))["balance"] == "120.00"


async def test_request_keys_are_scoped_per_caller(gql, world):
    """An end user and a customer administrator of one customer do not share requestService keys."""
    # given: an end user of the same customer
    end_user = await make_user(Role.END_USER, world.customer)

    # when: both request with the same key
    first = await call(
        gql, "requestService", world.customer_admin, serviceId=world.service_id, idempotencyKey="x"
    )
    second = await call(gql, "requestService", end_user, serviceId=world.service_id, idempotencyKey="x")

    # then: two requests, charged twice
    assert first["serviceRequest"]["id"] != second["serviceRequest"]["id"]
    assert second["serviceRequest"]["customer"]["balance"] == "20.00"


async def test_keys_are_scoped_per_operation(gql, world):
    """The same key on grantCredits and withdrawCredits names two independent operations."""
    # given: a grant with a key
    args = {"customerId": world.cid, "amount": "10", "idempotencyKey": "op"}
    granted = await call(gql, "grantCredits", world.admin, **args)

    # when: a withdrawal uses the same key and arguments
    withdrawn = await call(gql, "withdrawCredits", world.admin, **args)

    # then: both ran
    assert granted["transaction"]["kind"] == "GRANT"
    assert withdrawn["userErrors"] == []
    assert withdrawn["transaction"]["kind"] == "WITHDRAWAL"
    assert withdrawn["customer"]["balance"] == "100.00"
    # and: each replays its own
    assert (await call(gql, "grantCredits", world.admin, **args))["transaction"] == granted["transaction"]
    assert (await call(gql, "withdrawCredits", world.admin, **args))["transaction"] == withdrawn[
        "transaction"
    ]
    assert len((await ledger(gql, world))["transactions"]["nodes"]) == 3


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits", "requestService"])
@pytest.mark.parametrize("key", ["k" * 256, ""], ids=["256-chars", "empty"])
async def test_key_of_256_characters_or_empty_is_invalid_input(gql, world, operation, key):
    """A key must be 1 to 255 characters: others are INVALID_INPUT on input.idempotencyKey."""
    # given: the ledger as it is
    before = await ledger(gql, world)
    caller = world.customer_admin if operation == "requestService" else world.admin
    args = (
        {"serviceId": world.service_id}
        if operation == "requestService"
        else {"customerId": world.cid, "amount": "10"}
    )

    # when: the key is too long or empty
    payload = await call(gql, operation, caller, **args, idempotencyKey=key)

    # then: INVALID_INPUT on input.idempotencyKey and nothing changed
    (obj,) = (v for k, v in payload.items() if k not in ("userErrors", "customer"))
    assert obj is None
    assert errors(payload) == [("INVALID_INPUT", ["input", "idempotencyKey"])]
    assert await ledger(gql, world) == before


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits", "requestService"])
async def test_key_of_255_characters_is_accepted(gql, world, operation):
    """A 255-character key (multi-byte characters included) works and replays."""
    # given: a key of exactly 255 characters
    key = "é" + "k" * 254
    caller = world.customer_admin if operation == "requestService" else world.admin
    args = (
        {"serviceId": world.service_id}
        if operation == "requestService"
        else {"customerId": world.cid, "amount": "10"}
    )

    # when: it is used twice
    first = await call(gql, operation, caller, **args, idempotencyKey=key)
    after = await ledger(gql, world)
    second = await call(gql, operation, caller, **args, idempotencyKey=key)

    # then: the first ran, the second replayed it
    assert first["userErrors"] == []
    assert second == first
    assert await ledger(gql, world) == after
    assert len(after["transactions"]["nodes"]) == 2


async def test_replay_reads_nested_objects_as_they_are_now(gql, world):
    """A replayed grant returns the original entry but the customer's current balance."""
    # given: a keyed grant of 10, then another grant of 5 without a key
    args = {"customerId": world.cid, "amount": "10", "idempotencyKey": "now"}
    first = await call(gql, "grantCredits", world.admin, **args)
    assert first["customer"]["balance"] == "110.00"
    await call(gql, "grantCredits", world.admin, customerId=world.cid, amount="5")

    # when: the keyed grant is replayed
    replay = await call(gql, "grantCredits", world.admin, **args)

    # then: the same immutable entry, and the balance as it is now
    assert replay["transaction"] == first["transaction"]
    assert replay["transaction"]["balanceAfter"] == "110.00"
    assert replay["customer"]["balance"] == "115.00"


async def test_request_replay_reads_status_price_and_balance_as_they_are_now(gql, world):
    """A replayed request shows its current status, the service's current price and the current balance."""
    # given: a keyed request, then cancelled, then the price changed
    args = {"serviceId": world.service_id, "idempotencyKey": "then"}
    first = (await call(gql, "requestService", world.customer_admin, **args))["serviceRequest"]
    cancelled = await gql(CANCEL, {"id": first["id"]}, token=world.customer_admin.token)
    assert cancelled["cancelServiceRequest"]["serviceRequest"] == {"status": "CANCELLED"}
    await gql(SET_SERVICE_PRICE, {"serviceId": world.service_id, "price": "99"}, token=world.admin.token)
    before = await ledger(gql, world)

    # when: the request is replayed
    replay = await call(gql, "requestService", world.customer_admin, **args)

    # then: the same request as it is now, and it was neither charged nor re-opened again
    assert replay["userErrors"] == []
    assert replay["serviceRequest"] == {
        "id": first["id"],
        "quantity": 1,
        "amount": "40.00",
        "status": "CANCELLED",
        "service": {"id": world.service_id, "creditPrice": "99.00"},
        "customer": {"id": world.cid, "balance": "100.00"},
    }
    assert await ledger(gql, world) == before


async def test_replay_after_credit_management_turned_off_returns_the_first_result(gql, world):
    """A successful result stays replayable even once credit management is off."""
    # given: a keyed grant, then credit management turned off
    args = {"customerId": world.cid, "amount": "10", "idempotencyKey": "before-off"}
    first = await call(gql, "grantCredits", world.admin, **args)
    await enable_credits(False)
    before = await ledger(gql, world)

    # when: it is replayed
    replay = await call(gql, "grantCredits", world.admin, **args)

    # then: the first transaction, nothing changed
    assert replay["userErrors"] == []
    assert replay["transaction"] == first["transaction"]
    assert await ledger(gql, world) == before


async def test_calls_without_a_key_are_never_deduplicated(gql, world):
    """Two identical grants without a key are two grants."""
    # given / when: the same grant twice without a key
    args = {"customerId": world.cid, "amount": "10"}
    first = await call(gql, "grantCredits", world.admin, **args)
    second = await call(gql, "grantCredits", world.admin, **args)

    # then: two entries
    assert first["transaction"]["id"] != second["transaction"]["id"]
    assert second["customer"]["balance"] == "120.00"


# --- retention ------------------------------------------------------------------------------


async def _age_records(hours: float) -> None:
    """Make every idempotency record claimed `hours` ago."""
    claimed = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    await IdempotencyRecord.all().update(created_at=claimed)


async def _grant(gql: GraphQLClient, world: World, key: str) -> dict[str, Any]:
    """A 10.00 grant to the customer under `key`."""
    return await call(gql, "grantCredits", world.admin, customerId=world.cid, amount="10", idempotencyKey=key)


async def test_records_past_retention_are_pruned_and_younger_ones_kept(gql, world, runtime, settings):
    """Housekeeping deletes records older than CREDITS_IDEMPOTENCY_RETENTION_HOURS, no others."""
    # given: a key used 49 hours ago (past the 48-hour default) and one used just now
    assert settings.idempotency_retention_hours == 48
    old = await _grant(gql, world, "old")
    await _age_records(49)
    young = await _grant(gql, world, "new")
    before = await ledger(gql, world)

    # when: the runtime keeps house
    pruned = await runtime.housekeeping.keep_house()

    # then: only the old record is gone, and nothing of the ledger changed
    assert pruned == 1
    assert [r.key for r in await IdempotencyRecord.all()] == ["new"]
    assert await ledger(gql, world) == before
    # and: the young key still replays its first result
    assert (await _grant(gql, world, "new"))["transaction"] == young["transaction"]
    # and: the pruned key is new again (the contract keeps keys at least 24 hours, not forever)
    assert (await _grant(gql, world, "old"))["transaction"]["id"] != old["transaction"]["id"]


async def test_records_within_retention_survive_housekeeping(gql, world, runtime):
    """A key used 47 hours ago still replays after housekeeping."""
    # given
    args = {"customerId": world.cid, "serviceId": world.service_id, "idempotencyKey": "k"}
    first = await call(gql, "requestService", world.admin, **args)
    await _age_records(47)

    # when
    pruned = await runtime.housekeeping.keep_house()

    # then
    assert pruned == 0
    repeat = await call(gql, "requestService", world.admin, **args)
    assert repeat["serviceRequest"] == first["serviceRequest"]


async def test_pruning_deletes_in_chunks_until_none_is_left(world):
    """More expired records than one chunk: every one goes, in several transactions."""
    # given: five expired claims
    for n in range(5):
        await IdempotencyRecord.create(
            actor_id=world.admin.user.id, operation="grantCredits", key=f"k{n}", fingerprint="x"
        )
    await _age_records(100)

    # when: pruned two at a time
    pruned = await idempotency.prune(dt.datetime.now(dt.UTC) - dt.timedelta(hours=48), chunk=2)

    # then
    assert pruned == 5
    assert await IdempotencyRecord.all().count() == 0


def test_retention_below_the_contracts_24_hours_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_retention_hours=23)


async def test_the_runtime_keeps_house_in_the_background(runtime) -> None:
    assert runtime.housekeeping.task is not None and not runtime.housekeeping.task.done()

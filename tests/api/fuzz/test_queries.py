"""Fuzzed query arguments: first, after, search, id."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from models.user import Role
from tests.api.fuzz.oracle import (
    ABSENT,
    ACCEPT,
    CALLERS,
    CRAFTED_CURSOR,
    CUSTOMER_LEDGER,
    CUSTOMER_LISTS,
    CUSTOMERS,
    CUSTOMERS_FIRST_PAGE,
    FUZZ,
    NOTIFICATIONS,
    REQUEST_ERROR,
    SERVICE_REQUEST,
    SIGNED_IN,
    TEXT,
    Expect,
    NotGraphQL,
    World,
    as_id,
    as_int,
    as_str,
    authorise,
    call,
    caller_of,
    id_values,
    known,
    may_access,
    may_see_request,
    own_customer,
    pools_of,
    post,
    read_state,
    realise,
    reject,
    resolve,
    settle,
    storable,
    valid_or,
    vars_of,
)


def judge_page(first: Any, after: Any, real_cursors: list[str]) -> Expect:
    """`first` is 1…100 (null: 50); `after` is null or a cursor the service gave; else INVALID_INPUT."""
    size = as_int(first, nullable=True, default=50)
    cursor = as_str(after, nullable=True)
    if size is not None and not 1 <= size <= 100:
        return reject(("INVALID_INPUT", None))
    if cursor is None or cursor in real_cursors:
        return ACCEPT
    return Expect(None, frozenset({("INVALID_INPUT", None)}))


def page_size(first: Any) -> int:
    """The page size a valid `first` asks for."""
    size = as_int(first, nullable=True, default=50)
    return 50 if size is None else size


FIRST = valid_or(
    st.integers(min_value=1, max_value=100) | st.none(),
    st.integers(min_value=-2, max_value=102) | st.sampled_from([2**31 - 1, 2**31, -(2**31), 1.0, 1.5]),
)


# Cursors the service gave (pool "cursors"), crafted ones, and anything else.
AFTER = valid_or(known("cursors") | st.none(), CRAFTED_CURSOR | TEXT)


def matches(name: str, search: str) -> bool:
    """Case-insensitive containment, by any of the case mappings a database may use."""
    ascii_upper = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return any(
        f(search) in f(name) for f in (str.lower, str.upper, str.casefold, lambda s: s.translate(ascii_upper))
    )


@FUZZ
@given(data=st.data())
async def test_customers_query_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """customers(first, after, search): a page of matching customers, or a coded top-level error."""
    # given: real cursors, then a caller and the arguments
    admin = world.admin
    page = await post(http, CUSTOMERS_FIRST_PAGE, {"first": 100}, admin)
    real = [edge["cursor"] for edge in page["data"]["customers"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools_of(before, cursors=real))
    search = data.draw(
        valid_or(st.sampled_from([None, "", "acme", "ÜNÏ", "%", "_", "50% off", "ελλ", "x%", "LTD"]), TEXT),
        label="search",
    )
    variables = vars_of(first=first, after=after, search=search)
    try:
        expect = judge_page(first, after, real)
        text = as_str(search, nullable=True)
        denied = authorise(before, caller, Role.CATALOG_ADMIN)
        if denied:
            expect = denied
        elif text and (len(text) > 200 or not storable(text)):
            expect = reject(("INVALID_INPUT", None))  # no name is longer than 200 characters
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: listing
    answer = await call(http, CUSTOMERS, variables, caller, "customers")

    # then: at most `first` customers, each matching the search; all of them when nothing limits
    settle(expect, answer, before, await read_state(), variables)
    if answer.ok:
        nodes = answer.payload["nodes"]
        assert len(nodes) <= page_size(first)
        assert all(matches(node["name"], text or "") for node in nodes), (text, nodes)
        if after in (ABSENT, None) and (text or "").isascii():
            expected = {
                k for k, v in before.customers.items() if matches(v[0], text or "") and v[0].isascii()
            }
            assert expected <= {node["id"] for node in nodes} or len(nodes) == page_size(first)
        if after in real:
            position = real.index(after)
            assert not {node["id"] for node in nodes} & {
                edge["node"]["id"] for edge in page["data"]["customers"]["edges"][: position + 1]
            }


@FUZZ
@given(data=st.data())
async def test_customer_and_ledger_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """customer(id) { transactions(first, after) }: only a visible customer; a page or INVALID_INPUT."""
    # given: real cursors of A's ledger, then a caller and the arguments
    ledger = await post(http, CUSTOMER_LEDGER, {"id": str(world.a.id), "first": 100}, world.admin)
    real = [edge["cursor"] for edge in ledger["data"]["customer"]["transactions"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(SIGNED_IN, label="caller"))
    pools = pools_of(before, cursors=real)
    raw = realise(data.draw(st.one_of(st.just(ABSENT), st.none(), id_values("customers")), label="id"), pools)
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools)
    variables = vars_of(id=raw, first=first, after=after)
    try:
        wanted = as_id(raw, nullable=True)
        page_expect = judge_page(first, after, real)
        customer_id = own_customer(caller) if wanted is None else resolve(wanted)
        visible = customer_id in before.customers and may_access(caller, customer_id)
        # End users get an empty ledger whatever they ask; nobody gets another tenant's customer.
        expect = page_expect if visible and caller.user.role != Role.END_USER else ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: reading the customer and its ledger
    answer = await call(http, CUSTOMER_LEDGER, variables, caller, "customer")

    # then: null for a customer the caller may not see; else newest-first entries of that customer
    settle(expect, answer, before, await read_state(), variables)
    if answer.ok:
        customer = answer.payload
        if not visible:
            assert customer is None
        else:
            assert customer["id"] == customer_id
            nodes = customer["transactions"]["nodes"]
            if caller.user.role == Role.END_USER:
                assert nodes == []
            own = {k for k, v in before.entries.items() if v[0] == customer_id}
            assert {n["id"] for n in nodes} <= own and len(nodes) <= max(page_size(first), 0)
            sequences = [n["sequence"] for n in nodes]
            assert sequences == sorted(sequences, reverse=True)


@FUZZ
@given(data=st.data())
async def test_other_list_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """serviceRequests, alerts, notifications (first, after) and serviceRequest(id): never a masked error."""
    # given: real cursors of A's requests and the administrator's notifications, and the arguments
    lists = await post(http, CUSTOMER_LISTS, {"id": str(world.a.id), "first": 100}, world.admin)
    real = [e["cursor"] for e in lists["data"]["customer"]["serviceRequests"]["edges"]]
    real += [e["cursor"] for e in lists["data"]["customer"]["alerts"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(SIGNED_IN, label="caller"))
    pools = pools_of(before, cursors=real)
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools)
    raw = realise(data.draw(id_values("requests"), label="id"), pools)
    try:
        expect = judge_page(first, after, real)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: reading lists and one request
    page = vars_of(first=first, after=after)
    lists_answer = await call(http, CUSTOMER_LISTS, {**page, "id": str(world.a.id)}, world.admin, "customer")
    notes_answer = await call(http, NOTIFICATIONS, page, caller, "notifications")
    request_answer = await call(http, SERVICE_REQUEST, vars_of(id=raw), caller, "serviceRequest")

    # then: pages within `first`, or INVALID_INPUT; a request only when the caller may see it
    after_state = await read_state()
    for answer in (lists_answer, notes_answer):
        settle(expect, answer, before, after_state, page)
    if lists_answer.ok:
        assert len(lists_answer.payload["serviceRequests"]["nodes"]) <= page_size(first)
        assert len(lists_answer.payload["alerts"]["nodes"]) <= page_size(first)
    if notes_answer.ok:
        assert len(notes_answer.payload["nodes"]) <= page_size(first)
    try:
        request_id = resolve(as_id(raw))
        request = before.requests.get(request_id) if request_id else None
        visible = request is not None and may_see_request(caller, request)
        settle(ACCEPT, request_answer, before, after_state, {"id": raw})
        assert (request_answer.payload or {}).get("id") == (request_id if visible else None)
    except NotGraphQL:
        settle(REQUEST_ERROR, request_answer, before, after_state, {"id": raw})

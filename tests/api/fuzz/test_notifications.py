"""Fuzzed notifications: marking them read."""

from __future__ import annotations

import uuid

import httpx
from hypothesis import given
from hypothesis import strategies as st

from models.notification import AlertKind, Notification
from tests.api.fuzz.oracle import (
    ABSENT,
    ACCEPT,
    CALLERS,
    FUZZ,
    JUNK,
    MARK_READ,
    REQUEST_ERROR,
    SIGNED_IN,
    NotGraphQL,
    World,
    as_id_list,
    assert_only,
    authorise,
    call,
    caller_of,
    id_values,
    pools_of,
    read_state,
    realise,
    resolve,
    settle,
    vars_of,
)


@FUZZ
@given(data=st.data())
async def test_mark_notifications_read_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Any list of ids (or one, or null): exactly the caller's unread ones among them are marked."""
    # given: now and then a new unread notification, then a caller and ids
    if data.draw(st.booleans(), label="new notification"):
        user = caller_of(world, data.draw(SIGNED_IN, label="for"))
        await Notification.create(
            user_id=user.user.id,
            customer_id=world.a.id,
            kind=AlertKind.BELOW_ZERO,
            balance=-100,
            message="Balance below zero",
        )
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    one_id = id_values("notifications")
    ids = data.draw(
        st.one_of(
            st.just(ABSENT),
            st.none(),
            st.lists(one_id, max_size=5),
            one_id,
            st.lists(JUNK, min_size=1, max_size=2),
            st.just([str(uuid.UUID(int=i)) for i in range(2000)]),
        ),
        label="ids",
    )
    ids = realise(ids, pools_of(before))
    variables = vars_of(ids=ids)
    try:
        wanted = as_id_list(ids)
        expect = authorise(before, caller) or ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: marking them read
    answer = await call(http, MARK_READ, variables, caller, "markNotificationsRead")

    # then: the count and the rows agree with the caller's unread notifications among the ids
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        unread = {
            k
            for k, (user, read) in before.notifications.items()
            if user == str(caller.user.id) and read is None
        }
        marked = unread if wanted is None else unread & {resolve(i) for i in wanted}
        assert answer.payload["count"] == len(marked)
        for key, (_, read) in after.notifications.items():
            assert (read is not None) == (key in marked or before.notifications[key][1] is not None)
        assert_only(before, after, "notifications")

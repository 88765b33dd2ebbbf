"""Mutations on the viewer's in-app notifications."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models.ids import try_parse_id
from models.notification import mark_read
from schema.access import current_actor
from schema.payloads import MarkNotificationsReadPayload


@strawberry.type
class NotificationMutations:
    """Reading notifications."""

    @strawberry.mutation(
        description="Mark the viewer's notifications read; returns how many changed. Any signed-in user."
    )
    async def mark_notifications_read(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(
                description="The notifications to mark (others' ids are ignored); null: all of the viewer's."
            ),
        ] = None,
    ) -> MarkNotificationsReadPayload:
        """Mark the viewer's notifications among `ids` (all when null) read; returns how many."""
        actor = current_actor(info)
        parsed = None if ids is None else [i for i in map(try_parse_id, ids) if i is not None]
        return MarkNotificationsReadPayload(count=await mark_read(actor.user_id, parsed))

"""Changing a credit lot's terms (catalog administrators)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models.errors import DomainError
from models.ids import parse_id
from models.lot_terms import update_lot
from models.user import Role
from resolvers.errors import INPUT
from schema.access import require_role
from schema.inputs import UpdateCreditLotInput
from schema.payloads import CreditLotPayload, UserError
from schema.types import CreditLot


@strawberry.type
class LotMutations:
    """Lot terms: priority and expiry."""

    @strawberry.mutation(
        description=(
            "Change an ACTIVE lot's priority or expiry; the balance does not change and no entry is "
            "written. Catalog administrators. userErrors: INVALID_INPUT, NOT_FOUND, INVALID_STATE (not "
            "ACTIVE)."
        )
    )
    async def update_credit_lot(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The lot's id.")],
        input: Annotated[UpdateCreditLotInput, strawberry.argument(description="What to change.")],
    ) -> CreditLotPayload:
        """Change an ACTIVE lot's priority or expiry; the balance does not change."""
        require_role(info, Role.CATALOG_ADMIN)
        try:
            lot = await update_lot(
                parse_id(id, "credit lot", "id"),
                priority=None if input.priority is strawberry.UNSET else input.priority,
                expires_at=None if input.expires_at is strawberry.UNSET else input.expires_at,
                change_priority=input.priority is not strawberry.UNSET,
                change_expiry=input.expires_at is not strawberry.UNSET,
            )
        except DomainError as error:  # `id` is a top-level argument, the rest is under `input`
            under = () if error.argument == "id" else INPUT
            return CreditLotPayload(user_errors=[UserError.from_domain(error, under)])
        return CreditLotPayload(lot=CreditLot.from_model(lot))

"""Mutations on logins, API tokens and users."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models import accounts
from models.errors import not_found
from models.ids import parse_id, parse_optional_id
from models.permissions import can_manage_user, target_customer
from models.user import Role
from models.user import User as UserModel
from resolvers.errors import INPUT, guarded
from schema.access import current_actor, forbidden, require_role
from schema.inputs import CreateUserInput
from schema.payloads import (
    CreateApiTokenPayload,
    LoginPayload,
    RevokeApiTokenPayload,
    UserPayload,
)
from schema.types import ApiToken, User


@strawberry.type
class AccountMutations:
    """Logging in, tokens and user administration."""

    @strawberry.mutation(
        description=(
            "Exchange email and password for a signed JWT; needs no token. userErrors: INVALID_CREDENTIALS "
            "(unknown email, wrong password or deactivated user alike), RATE_LIMITED."
        )
    )
    async def login(
        self,
        info: Info,
        email: Annotated[
            str, strawberry.argument(description="The user's email, compared case-insensitively.")
        ],
        password: Annotated[str, strawberry.argument(description="The user's password.")],
    ) -> LoginPayload:
        """Exchange email and password for a signed JWT (throttled per email and address)."""
        client = info.context.request.client
        address = client.host if client else None

        async def work() -> LoginPayload:
            session = await accounts.login(email, password, address)
            return LoginPayload(
                token=session.token, expires_at=session.expires_at, user=User.from_model(session.user)
            )

        return await guarded(LoginPayload, work)

    @strawberry.mutation(
        description=(
            "A long-lived token acting as the caller; its secret is shown only in this payload. Any "
            "signed-in user."
        )
    )
    async def create_api_token(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="A name to recognise the token by.")],
    ) -> CreateApiTokenPayload:
        """A long-lived token acting as the caller; the secret is shown only here."""
        actor = current_actor(info)

        async def work() -> CreateApiTokenPayload:
            secret, row = await accounts.create_api_token(actor, name)
            return CreateApiTokenPayload(token=secret, api_token=ApiToken.from_model(row))

        return await guarded(CreateApiTokenPayload, work)

    @strawberry.mutation(
        description="Revoke a token at once. Its owner or a catalog administrator. userErrors: NOT_FOUND."
    )
    async def revoke_api_token(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The API token's id.")]
    ) -> RevokeApiTokenPayload:
        """Revoke a token at once (its owner or a catalog administrator)."""
        actor = current_actor(info)

        async def work() -> RevokeApiTokenPayload:
            row = await accounts.revoke_api_token(actor, parse_id(id, "API token", "id"))
            return RevokeApiTokenPayload(api_token=ApiToken.from_model(row))

        return await guarded(RevokeApiTokenPayload, work)

    @strawberry.mutation(
        description=(
            "Create a user. Catalog administrators; customer administrators for their own customer "
            "(CUSTOMER_ADMIN and END_USER only; a CATALOG_ADMIN: FORBIDDEN). userErrors: INVALID_INPUT, "
            "NOT_FOUND."
        )
    )
    async def create_user(
        self,
        info: Info,
        input: Annotated[CreateUserInput, strawberry.argument(description="The user to create.")],
    ) -> UserPayload:
        """Create a user; customer administrators create users of their own customer only."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
        role = Role(input.role)
        if actor.role == Role.CUSTOMER_ADMIN and role == Role.CATALOG_ADMIN:
            raise forbidden()

        async def work() -> UserPayload:
            customer_id = parse_optional_id(input.customer_id, "customer", "customerId")
            if actor.role == Role.CUSTOMER_ADMIN:
                customer_id = target_customer(actor, customer_id, "customerId")
            created = await accounts.create_user(
                email=input.email,
                name=input.name,
                role=role,
                customer_id=customer_id,
                password=input.password,
            )
            return UserPayload(user=User.from_model(created))

        return await guarded(UserPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Deactivate or reactivate a user; a deactivated user cannot log in and its tokens stop working "
            "at once. Catalog administrators; customer administrators for users of their customer. "
            "userErrors: NOT_FOUND."
        )
    )
    async def set_user_active(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The user's id.")],
        active: Annotated[bool, strawberry.argument(description="False deactivates, true reactivates.")],
    ) -> UserPayload:
        """(De)activate a user; a deactivated user's tokens stop working at once."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)

        async def work() -> UserPayload:
            target = await UserModel.get_or_none(id=parse_id(id, "user", "id"))
            if target is None or not can_manage_user(actor, target):
                raise not_found("user", "id")
            return UserPayload(user=User.from_model(await accounts.set_user_active(actor, target, active)))

        return await guarded(UserPayload, work)

"""Mutations on logins, API tokens and users."""

from __future__ import annotations

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

    @strawberry.mutation
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        """Exchange email and password for a signed JWT (throttled per email and address)."""
        client = info.context.request.client
        address = client.host if client else None

        async def work() -> LoginPayload:
            session = await accounts.login(email, password, address)
            return LoginPayload(
                token=session.token, expires_at=session.expires_at, user=User.from_model(session.user)
            )

        return await guarded(LoginPayload, work)

    @strawberry.mutation
    async def create_api_token(self, info: Info, name: str) -> CreateApiTokenPayload:
        """A long-lived token acting as the caller; the secret is shown only here."""
        actor = current_actor(info)

        async def work() -> CreateApiTokenPayload:
            secret, row = await accounts.create_api_token(actor, name)
            return CreateApiTokenPayload(token=secret, api_token=ApiToken.from_model(row))

        return await guarded(CreateApiTokenPayload, work)

    @strawberry.mutation
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> RevokeApiTokenPayload:
        """Revoke a token at once (its owner or a catalog administrator)."""
        actor = current_actor(info)

        async def work() -> RevokeApiTokenPayload:
            row = await accounts.revoke_api_token(actor, parse_id(id, "API token", "id"))
            return RevokeApiTokenPayload(api_token=ApiToken.from_model(row))

        return await guarded(RevokeApiTokenPayload, work)

    @strawberry.mutation
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
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

    @strawberry.mutation
    async def set_user_active(self, info: Info, id: strawberry.ID, active: bool) -> UserPayload:
        """(De)activate a user; a deactivated user's tokens stop working at once."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)

        async def work() -> UserPayload:
            target = await UserModel.get_or_none(id=parse_id(id, "user", "id"))
            if target is None or not can_manage_user(actor, target):
                raise not_found("user", "id")
            return UserPayload(user=User.from_model(await accounts.set_user_active(actor, target, active)))

        return await guarded(UserPayload, work)

"""The contract's enums, shared with the domain by value."""

from __future__ import annotations

from collections.abc import Mapping
from enum import EnumMeta
from typing import TypeVar

import strawberry

from models.customer import CustomerOrder as _CustomerOrder
from models.ledger import TransactionKind as _TransactionKind
from models.lots import LotStatus as _LotStatus
from models.notification import AlertKind as _AlertKind
from models.service import RequestStatus as _RequestStatus
from models.user import Role as _Role
from models.user import SpendLimitPeriod as _SpendLimitPeriod

E = TypeVar("E", bound=EnumMeta)


def described(cls: E, name: str, description: str, values: Mapping[str, str]) -> E:
    """`strawberry.enum` with a description per value; the domain's enums stay free of Strawberry.

    A value left out of `values` has none (tests/schema/test_descriptions.py names it).
    """
    enum = strawberry.enum(cls, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values.get(value.name)
    return enum


Role = described(
    _Role,
    "Role",
    'What a user may do (API.md, "Authentication and who may do what").',
    {
        "CATALOG_ADMIN": "Everything, for every customer.",
        "CUSTOMER_ADMIN": (
            "Its own customer: balance, ledger, all its service requests, alerts, the alert threshold, "
            "requesting and cancelling services, and its CUSTOMER_ADMIN and END_USER users."
        ),
        "END_USER": (
            "Its own customer's balance (not its ledger); requests services, sees and cancels "
            "the ones it made."
        ),
    },
)
TransactionKind = described(
    _TransactionKind,
    "TransactionKind",
    "Why the balance moved; the sign of `amount` follows from it.",
    {
        "GRANT": "Credits granted by a catalog administrator (grantCredits); positive.",
        "WITHDRAWAL": "Credits withdrawn by a catalog administrator (withdrawCredits); negative.",
        "SERVICE_CHARGE": "A service request's price × quantity, debited when requested; negative.",
        "REFUND": "What a cancelled, failed or rejected request was charged, returned once; positive.",
        "EXPIRATION": "What was left in a lot when it expired; negative.",
        "AUTO_TOP_UP": (
            "The customer's autoTopUp amount, written just before the debit that would cross its "
            "threshold, in the same transaction; positive, a new lot."
        ),
    },
)
ServiceRequestStatus = described(
    _RequestStatus,
    "ServiceRequestStatus",
    "A request starts REQUESTED; every other status is final.",
    {
        "REQUESTED": "Made (and charged, if chargeable); the only status that may still change.",
        "COMPLETED": "Done; final, no refund.",
        "CANCELLED": "Cancelled (cancelServiceRequest); refunded.",
        "FAILED": "Failed (catalog administrator); refunded.",
        "REJECTED": "Rejected (catalog administrator); refunded.",
    },
)
CustomerOrder = described(
    _CustomerOrder,
    "CustomerOrder",
    "How `customers` sorts; ties go by id. A balance that moves between pages may move a customer past a "
    "cursor.",
    {
        "NAME": "By name, A to Z (the default).",
        "BALANCE_ASCENDING": "Lowest balance first: the most in debt at the top.",
        "BALANCE_DESCENDING": "Highest balance first.",
    },
)
AlertKind = described(
    _AlertKind,
    "AlertKind",
    "Which limit a balance crossed, or (notifications only) that a webhook endpoint was disabled.",
    {
        "BELOW_ZERO": "The balance moved from ≥ 0 to < 0.",
        "BELOW_THRESHOLD": "The balance moved from ≥ the customer's alertThreshold to below it.",
        "WEBHOOK_DISABLED": "A webhook endpoint of the customer was disabled (notifications only).",
        "CREDITS_EXPIRING": "A lot with credits left expires within 7 days (see `lot`).",
        "RUNWAY_LOW": "runway.depletesAt came within the customer's runwayAlertDays (see `depletesAt`).",
        "AUTO_TOP_UP_LIMIT_REACHED": (
            "The auto top-up's maxPerDay stopped a top-up; at most one such alert per UTC day."
        ),
    },
)
CreditLotStatus = described(
    _LotStatus,
    "CreditLotStatus",
    "ACTIVE lots hold or may again hold credits; EXPIRED is final.",
    {
        "ACTIVE": "Debits may take from it; a refund may bring credits back to it.",
        "DEPLETED": "Used up; becomes ACTIVE again when a refund returns credits to it.",
        "EXPIRED": "Past its expiresAt; what it held became an EXPIRATION entry. Final.",
    },
)
SpendLimitPeriod = described(
    _SpendLimitPeriod,
    "SpendLimitPeriod",
    "The period a spend limit counts: the UTC calendar day or month.",
    {
        "DAY": "The UTC calendar day: the limit resets at 00:00 UTC.",
        "MONTH": "The UTC calendar month: the limit resets at 00:00 UTC on the 1st.",
    },
)

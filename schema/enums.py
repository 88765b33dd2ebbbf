"""The contract's enums, shared with the domain by value."""

from __future__ import annotations

import strawberry

from models.ledger import TransactionKind as _TransactionKind
from models.lots import LotStatus as _LotStatus
from models.notification import AlertKind as _AlertKind
from models.service import RequestStatus as _RequestStatus
from models.user import Role as _Role

Role = strawberry.enum(_Role, name="Role")
TransactionKind = strawberry.enum(_TransactionKind, name="TransactionKind")
ServiceRequestStatus = strawberry.enum(_RequestStatus, name="ServiceRequestStatus")
AlertKind = strawberry.enum(_AlertKind, name="AlertKind")
CreditLotStatus = strawberry.enum(_LotStatus, name="CreditLotStatus")

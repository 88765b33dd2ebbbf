"""Tortoise models and the domain logic beside them; never imports Strawberry."""

from models.console_sessions import ConsoleSession
from models.credit_alert import CreditAlert
from models.customer import Customer
from models.idempotency import IdempotencyRecord
from models.lots import CreditAllocation, CreditLot, LotStatus
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.platform import PlatformSettings
from models.service import RequestStatus, Service, ServiceRequest
from models.throttle import LoginFailure
from models.transaction import CreditTransaction, TransactionKind
from models.user import ApiToken, Role, User
from models.webhook_outbox import WebhookDelivery
from models.webhook_sends import WebhookManualSend
from models.webhooks import WebhookEndpoint

__all__ = [
    "AlertKind",
    "ApiToken",
    "ConsoleSession",
    "CreditAlert",
    "CreditAllocation",
    "CreditLot",
    "CreditTransaction",
    "Customer",
    "EmailOutbox",
    "IdempotencyRecord",
    "LoginFailure",
    "LotStatus",
    "Notification",
    "PlatformSettings",
    "RequestStatus",
    "Role",
    "Service",
    "ServiceRequest",
    "TransactionKind",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookManualSend",
]

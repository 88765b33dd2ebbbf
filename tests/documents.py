"""The GraphQL documents several test files send, each defined once and named for its operation.

A test that needs an odd selection (a literal argument, a deliberately fat or slim subscription)
keeps its own document beside it; everything shared lives here.
"""

from __future__ import annotations

# --- accounts -----------------------------------------------------------------------------------

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    token expiresAt user { id email role } userErrors { code field message }
  }
}"""
VIEWER = "query { viewer { id role } }"
CREATE_USER = """
mutation ($input: CreateUserInput!) {
  createUser(input: $input) {
    user { email name role active customer { id } } userErrors { code field message }
  }
}"""
SET_USER_ACTIVE = """
mutation ($id: ID!, $active: Boolean!) {
  setUserActive(id: $id, active: $active) { user { id active } userErrors { code field message } }
}"""
CREATE_API_TOKEN = """
mutation ($name: String!) {
  createApiToken(name: $name) {
    token apiToken { id name createdAt lastUsedAt revokedAt } userErrors { code field message }
  }
}"""
REVOKE_API_TOKEN = """
mutation ($id: ID!) {
  revokeApiToken(id: $id) { apiToken { id revokedAt } userErrors { code field message } }
}"""

# --- catalog and platform -----------------------------------------------------------------------

CREDIT_SETTINGS = "query { creditSettings { creditManagementEnabled } }"
SET_CREDIT_MANAGEMENT = """
mutation ($enabled: Boolean!) {
  setCreditManagement(enabled: $enabled) { creditSettings { creditManagementEnabled } userErrors { code } }
}"""
CREATE_CUSTOMER = """
mutation ($name: String!) {
  createCustomer(input: {name: $name}) { customer { id balance } userErrors { code field } }
}"""
CREATE_SERVICE = """
mutation ($name: String!, $price: Decimal) {
  createService(input: {name: $name, creditPrice: $price}) { service { id creditPrice } userErrors { code } }
}"""
SET_SERVICE_PRICE = """
mutation ($serviceId: ID!, $price: Decimal) {
  setServicePrice(serviceId: $serviceId, creditPrice: $price) {
    service { creditPrice } userErrors { code field }
  }
}"""

# --- the ledger ---------------------------------------------------------------------------------

_BALANCE_CHANGE = """
mutation ($input: BalanceChangeInput!) {
  %s(input: $input) {
    transaction { id sequence kind amount balanceAfter note }
    customer { id balance }
    userErrors { %s }
  }
}"""
GRANT_CREDITS = _BALANCE_CHANGE % ("grantCredits", "code field message")
WITHDRAW_CREDITS = _BALANCE_CHANGE % ("withdrawCredits", "code field message")
# Without the message: for tests that compare userErrors whole.
GRANT_CREDITS_CODES = _BALANCE_CHANGE % ("grantCredits", "code field")
SET_CREDIT_ALERT = """
mutation ($customerId: ID!, $threshold: Decimal) {
  setCreditAlert(input: {customerId: $customerId, threshold: $threshold}) {
    customer { id balance alertThreshold } userErrors { code field }
  }
}"""
CUSTOMER_BALANCE = "query ($id: ID!) { customer(id: $id) { balance } }"
_CUSTOMER_LEDGER = """
query ($id: ID!) {
  customer(id: $id) {
    balance
    transactions(first: 100) { nodes { id sequence kind amount balanceAfter note } }%s
  }
}"""
CUSTOMER_LEDGER = _CUSTOMER_LEDGER % ""
CUSTOMER_LEDGER_AND_REQUESTS = (
    _CUSTOMER_LEDGER % "\n    serviceRequests(first: 100) { nodes { id status amount } }"
)

# --- service requests ---------------------------------------------------------------------------

REQUEST_SERVICE = """
mutation ($input: RequestServiceInput!) {
  requestService(input: $input) {
    serviceRequest { id quantity amount status service { id creditPrice } customer { id balance } }
    userErrors { code field message }
  }
}"""
_TRANSITION = """
mutation ($id: ID!%s) {
  %s(id: $id%s) { serviceRequest { id status amount customer { balance } } userErrors { code field } }
}"""
CANCEL_REQUEST = _TRANSITION % ("", "cancelServiceRequest", "")
COMPLETE_REQUEST = _TRANSITION % ("", "completeServiceRequest", "")
FAIL_REQUEST = _TRANSITION % (", $reason: String", "failServiceRequest", ", reason: $reason")
REJECT_REQUEST = _TRANSITION % (", $reason: String", "rejectServiceRequest", ", reason: $reason")

# --- subscriptions ------------------------------------------------------------------------------

_BALANCE_CHANGED = """
subscription ($customerId: ID, $afterSequence: Int) {
  balanceChanged(customerId: $customerId, afterSequence: $afterSequence) { customerId %s }
}"""
BALANCE_CHANGED = (
    _BALANCE_CHANGED % "balance sequence transaction { id sequence kind amount balanceAfter note }"
)
# Just where the balance stands: for tests that compare whole events.
BALANCE_SEQUENCES = _BALANCE_CHANGED % "sequence balance"
CREDIT_ALERTS = """
subscription ($customerId: ID) {
  creditAlerts(customerId: $customerId) { id kind customerId balance threshold }
}"""
CUSTOMER_CHANGED = """
subscription ($customerId: ID) { customerChanged(customerId: $customerId) { id name alertThreshold } }"""

# Settings of issue 22, as the console sets them (userErrors codes only).
SET_MINIMUM_BALANCE = """
mutation ($input: SetMinimumBalanceInput!) { setMinimumBalance(input: $input) { userErrors { code } } }"""
SET_AUTO_TOP_UP = """
mutation ($input: SetAutoTopUpInput!) { setAutoTopUp(input: $input) { userErrors { code } } }"""
DISABLE_AUTO_TOP_UP = """
mutation ($id: ID!) { disableAutoTopUp(customerId: $id) { userErrors { code } } }"""
SET_RUNWAY_ALERT = """
mutation ($input: SetRunwayAlertInput!) { setRunwayAlert(input: $input) { userErrors { code } } }"""
CUSTOMER_CONTROLS_CHANGED = """
subscription ($customerId: ID) {
  customerChanged(customerId: $customerId) {
    id minimumBalance autoTopUp { threshold amount } runwayAlertDays
  }
}"""

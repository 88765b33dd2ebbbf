"""The real npm clients against a real server: urql, Apollo (graphql-ws, persisted queries), graphql-sse."""

from __future__ import annotations

from models.customer import Customer
from models.user import Role
from tests.client import GraphQLClient
from tests.documents import GRANT_CREDITS
from tests.factories import PASSWORD, Login, enable_credits, make_catalog_admin, make_customer, make_user
from tests.processes import ServerProcess

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


async def grant(api: GraphQLClient, admin: Login, customer: Customer, amount: str) -> None:
    """grantCredits through the real server, so that its bus publishes the event."""
    input = {"customerId": str(customer.id), "amount": amount}
    payload = (await api(GRANT_CREDITS, {"input": input}, token=admin.token))["grantCredits"]
    assert payload["userErrors"] == []


async def test_urql_with_its_default_exchanges_logs_in_and_queries(run_script) -> None:
    # given a customer administrator with a password
    customer = await make_customer(balance=100)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when urql's Client, as set up by default, logs in and then queries with the token
    result = await (await run_script("urql_login.mjs", EMAIL=owner.user.email, PASSWORD=PASSWORD)).result()

    # then both answers are plain GraphQL results with no error
    assert result["loginError"] is None
    assert result["loginUserErrors"] == []
    assert result["gotToken"] is True
    assert result["queryError"] is None
    assert result["data"]["viewer"]["email"] == owner.user.email
    assert result["data"]["customer"] == {
        "__typename": "Customer",
        "id": str(customer.id),
        "balance": "100.00",
    }


async def test_apollo_cache_follows_a_grant_through_graphql_ws_with_no_cache_code(
    run_script, api: GraphQLClient, server: ServerProcess
) -> None:
    # given a customer with 100 and Apollo watching its balance, subscribed to balanceChanged
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100, by=admin)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    script = await run_script("apollo_ws_cache.mjs", TOKEN=owner.token, CUSTOMER_ID=customer.id)
    await script.until_subscribed(server, "balanceChanged")

    # when the catalog administrator grants 25
    await grant(api, admin, customer, "25")

    # then the watched query's balance moved by itself, from what the event's customer carried
    result = await script.result()
    assert result["errors"] == []
    assert result["balances"] == ["100.00", "125.00"]
    customer_as_left = {"__typename": "Customer", "id": str(customer.id), "balance": "125.00"}
    assert result["events"][0]["customer"] == customer_as_left


async def test_apollo_persisted_queries_link_works_from_cold(run_script) -> None:
    # given a user, and queries the server has never stored
    customer = await make_customer()
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when Apollo's persisted-queries link runs each of two queries twice, over POST and over GET
    result = await (await run_script("apollo_persisted.mjs", TOKEN=owner.token)).result()

    # then the first run sends the hash alone, is told PERSISTED_QUERY_NOT_FOUND and retries with
    # the query; the second run's hash alone is enough
    for method, hashed in (("post", "POST"), ("get", "GET")):
        first, second = result[method]
        assert [first["role"], second["role"]] == ["CUSTOMER_ADMIN", "CUSTOMER_ADMIN"], result[method]
        assert [first["error"], second["error"]] == [None, None]
        assert [(w["method"], w["hasQuery"], w["hasHash"], w["codes"]) for w in first["wire"]] == [
            (hashed, False, True, [PERSISTED_QUERY_NOT_FOUND]),
            ("POST", True, True, []),
        ]
        assert [(w["method"], w["hasQuery"], w["hasHash"], w["codes"]) for w in second["wire"]] == [
            (hashed, False, True, []),
        ]


async def test_graphql_sse_resumes_after_a_sequence_with_no_gap_or_duplicate(
    run_script, api: GraphQLClient, server: ServerProcess
) -> None:
    # given a customer whose ledger holds entries 1…3, and a client that has seen entry 1
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer(by=admin)
    for amount in ("1", "2", "3"):
        await grant(api, admin, customer, amount)

    # when graphql-sse's client subscribes after sequence 1, and two more grants commit
    script = await run_script(
        "sse_resume.mjs", TOKEN=admin.token, CUSTOMER_ID=customer.id, AFTER_SEQUENCE=1, UNTIL_SEQUENCE=5
    )
    await script.until_subscribed(server, "balanceChanged")
    for amount in ("4", "5"):
        await grant(api, admin, customer, amount)

    # then it receives 2 and 3 replayed, then 4 and 5 live: each once, in order
    result = await script.result()
    assert result["errors"] == []
    assert result["events"] == [
        {"sequence": 2, "balance": "3.00"},
        {"sequence": 3, "balance": "6.00"},
        {"sequence": 4, "balance": "10.00"},
        {"sequence": 5, "balance": "15.00"},
    ]


async def test_urql_fetch_subscriptions_receive_balance_events_over_an_event_stream(
    run_script, api: GraphQLClient, server: ServerProcess
) -> None:
    # given a customer administrator subscribed through urql's fetchSubscriptions
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer(by=admin)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    script = await run_script("urql_sse.mjs", TOKEN=owner.token, CUSTOMER_ID=customer.id, UNTIL_SEQUENCE=2)
    await script.until_subscribed(server, "balanceChanged")

    # when two grants commit
    for amount in ("7", "8.50"):
        await grant(api, admin, customer, amount)

    # then urql delivers both events, in order
    result = await script.result()
    assert result["errors"] == []
    assert result["events"] == [{"sequence": 1, "balance": "7.00"}, {"sequence": 2, "balance": "15.50"}]

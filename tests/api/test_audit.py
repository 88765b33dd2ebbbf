"""Audit: who did what under which request, and logs that never carry a secret."""

from __future__ import annotations

import json

import httpx

from models.ledger import CreditTransaction
from settings import Settings
from tests.client import GraphQLClient
from tests.documents import CREATE_API_TOKEN, GRANT_CREDITS, LOGIN
from tests.factories import enable_credits, make_catalog_admin, make_customer
from tests.processes import ServerProcess


async def test_ledger_entries_record_actor_token_and_request_id(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    # given: a catalog administrator acting through an API token, and a customer
    admin = await make_catalog_admin()
    await enable_credits()
    customer = await make_customer()
    token = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=admin.token))["createApiToken"]["token"]

    # when: a grant is sent with the client's own request id
    response = await http.post(
        "/graphql",
        json={
            "query": GRANT_CREDITS,
            "variables": {"input": {"customerId": str(customer.id), "amount": "5"}},
        },
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42.abc"},
    )

    # then: the entry names the token's owner, the token and the request; the id is echoed
    assert response.headers["x-request-id"] == "req-42.abc"
    entry = await CreditTransaction.get(id=response.json()["data"]["grantCredits"]["transaction"]["id"])
    assert entry.actor_id == admin.user.id
    assert entry.api_token_id is not None
    assert entry.request_id == "req-42.abc"


async def test_a_malformed_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    # given / when: a request id that could forge log lines
    response = await http.get("/healthz", headers={"X-Request-ID": "bad id\nINFO forged"})

    # then: the server uses its own
    assert response.headers["x-request-id"] != "bad id\nINFO forged"
    assert len(response.headers["x-request-id"]) == 32


async def test_production_logs_are_json_lines_without_secrets(
    server_env: dict[str, str], settings: Settings
) -> None:
    # given: a server in production mode (JSON logs)
    env = {**server_env, "CREDITS_ENV": "production"}
    with ServerProcess(env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            # when: a login (a password), a token creation (a secret) and a GET carrying variables
            login = await http.post(
                "/graphql",
                json={
                    "query": LOGIN,
                    "variables": {"email": settings.admin_email, "password": settings.admin_password},
                },
            )
            jwt = login.json()["data"]["login"]["token"]
            created = await http.post(
                "/graphql",
                json={"query": CREATE_API_TOKEN, "variables": {"name": "ci"}},
                headers={"Authorization": f"Bearer {jwt}"},
            )
            secret = created.json()["data"]["createApiToken"]["token"]
            await http.get(
                "/graphql",
                params={"query": "{ viewer { email } }", "variables": '{"p": "hunter22"}'},
                headers={"Authorization": f"Bearer {secret}"},
            )
            await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"email": "x@y.z", "password": "wrong-pass"}}
            )
    log = server.log_path.read_text()

    # then: every line is a JSON object with a request id where one applies, and no secret appears
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "credits.access"]
    assert len(access) >= 4 and all(line["request_id"] for line in access)
    for secret_text in (settings.admin_password, jwt, secret, "hunter22", "wrong-pass"):
        assert secret_text not in log


def test_the_log_level_comes_from_the_settings_in_either_case(settings: Settings) -> None:
    """CREDITS_LOG_LEVEL is read with the other settings (`debug` or `DEBUG`), not from os.environ."""
    # given
    import logging

    from api import logs

    quiet = settings.model_copy(
        update={"log_level": Settings.model_validate({"log_level": "warning"}).log_level}
    )
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        # when
        logs.configure_from(quiet)

        # then
        assert quiet.log_level == "WARNING"
        assert root.level == logging.WARNING
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers

"""The GraphQL endpoint: HTTP requests, SSE streams and websockets (authentication, 503 before execution)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

import metrics
from api import console
from api.batching import check_batch, run_batch
from api.console_session import ConsoleSessions
from api.context import Context, bearer_token, build_context
from api.error_codes import BAD_REQUEST, http_error_code
from api.feeds import SharedFeedHandler
from api.graphql_http import (
    GRAPHQL_RESPONSE_TYPE,
    is_request_error,
    request_error_response,
    wants_graphql_response,
)
from api.persisted_queries import PersistedQueries, PersistedQueryError
from api.runtime import Runtime
from api.schema import build_schema
from api.socket_limits import TICKET, TRY_AGAIN_LATER, SocketTicket, client_address
from api.sse import (
    STREAM,
    EventStream,
    OpenStreams,
    refuse_stream,
    sse_transport,
    too_many_streams,
    unauthenticated_response,
    wants_event_stream,
)
from api.unavailable import RETRY_AFTER_SECONDS, is_unavailable, unavailable_body
from api.ws_protocol import BoundedWebSocketAdapter, LegacyHandler
from models.accounts import AuthenticationError, authenticate

log = logging.getLogger("credits.server")

GRAPHQL_PATH = "/graphql"
GRAPHQL_RESPONSE_WANTED = "credits.graphql_response"  # scope key: the client asked for that media type
SUBSCRIPTION_NEEDS_A_STREAM = (
    "subscriptions need a websocket or an event stream: open /graphql with graphql-transport-ws"
    " (or graphql-ws), or POST with Accept: text/event-stream (graphql-sse)"
)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with our per-request context and websocket authentication."""

    graphql_transport_ws_handler_class = SharedFeedHandler
    graphql_ws_handler_class = LegacyHandler
    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.is_development else None,
            max_subscriptions_per_connection=settings.max_subscriptions_per_socket,
            connection_init_wait_timeout=dt.timedelta(seconds=settings.ws_init_timeout_seconds),
            # The CORS origins may open websockets too (an embedded <credit-balance>); others get 403.
            allowed_origins=settings.cors_origins,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            **kwargs,
        )
        self.stream_transport_classes_by_protocol = {
            GRAPHQL_SSE_PROTOCOL: sse_transport(settings.sse_heartbeat_seconds)
        }
        self.runtime = runtime
        self.sessions = ConsoleSessions(settings)
        self.streams = OpenStreams()
        self.persisted_queries = PersistedQueries.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An event stream holds a connection like a websocket: it counts against the same cap, and
        ends when the server shuts down (`self.streams`)."""
        if scope["type"] != "http" or not wants_event_stream(scope):
            await super().__call__(scope, receive, send)
            return
        limits = self.runtime.socket_limits
        ticket = limits.admit(client_address(scope))
        if ticket is None:
            await refuse_stream(scope, receive, send)
            return
        stream = self.streams.open()
        scope[TICKET], scope[STREAM] = ticket, stream
        metrics.SSE_STREAMS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            metrics.SSE_STREAMS.dec()
            limits.release(ticket)
            self.streams.close(stream)
            self.runtime.sockets.forget(stream)  # type: ignore[arg-type]

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the service's own vendored files, so it works without internet."""
        return console.graphiql_page()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a GET without a document; a persisted query's GET has only `extensions`."""
        return super().should_render_graphql_ide(request) and request.query_params.get("extensions") is None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing; then the persisted query's document, or its refusal (run answers it)."""
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            data.query = self.persisted_queries.resolve(data.query, data.extensions)
        return data

    def decode_json(self, data: str | bytes) -> object:
        """JSON Python cannot read is malformed (400 over HTTP), not a crash.

        `json.loads` raises plain ValueError for integers beyond 4300 digits and invalid UTF-8,
        and RecursionError for deep nesting; Strawberry answers 400 only for JSONDecodeError.
        """
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(f"unreadable JSON: {type(exc).__name__}", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP body (or GET parameter) that is JSON but no object (or batch list) is 400 too.

        Strawberry would call `.get` on `null`, `42` or `"query"` and answer 500.
        """
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise json.JSONDecodeError("expected a JSON object", "", 0)
        return value

    def _validate_batch_request(self, request_data: list[Any], protocol: Any) -> None:
        """Strawberry's checks of a batch (enabled, not a stream, not too long), then of its items."""
        super()._validate_batch_request(request_data, protocol)
        check_batch(request_data)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Any,
        root_value: Any,
        sub_response: Response,
    ) -> Any:
        """A batch runs its operations one after another, in order (Strawberry: all at once); each
        may be a persisted query, refused in its own slot (a later one may use a hash an earlier one
        registered)."""
        if not isinstance(request_data, list):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )

        async def one(data: Any) -> ExecutionResult:
            try:
                data.query = self.persisted_queries.resolve(data.query, data.extensions)
            except PersistedQueryError as refused:
                error = GraphQLError(refused.message, extensions={"code": refused.code})
                return ExecutionResult(data=None, errors=[error])
            return await self.execute_single(
                request, request_adapter, sub_response, context, root_value, data
            )

        return await run_batch(request_data, one, sub_response)

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """One operation of a plain HTTP request; a subscription is answered 400, not run.

        The schema refuses to execute a subscription as a single result (streams go through
        `schema.stream`); Strawberry would answer that in plain text, this answers a GraphQL error.
        """
        try:
            result = await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
            if request.scope.get(GRAPHQL_RESPONSE_WANTED) and is_request_error(result):
                sub_response.status_code = 400
            return result
        except HTTPException as exc:
            refused = exc.__cause__
            if not isinstance(refused, InvalidOperationTypeError):
                raise
            if refused.operation_type is not OperationType.SUBSCRIPTION:
                raise
        sub_response.status_code = 400
        error = GraphQLError(SUBSCRIPTION_NEEDS_A_STREAM, extensions={"code": BAD_REQUEST})
        return ExecutionResult(data=None, errors=[error])

    async def run(self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Answer 503 SERVICE_UNAVAILABLE when the database fails before execution (authentication).

        A websocket counts as open (metrics) and is watched for as long as its handler runs.
        """
        if isinstance(request, WebSocket):
            metrics.WEBSOCKETS.inc()
            try:
                return await super().run(request, context, root_value)
            finally:
                metrics.WEBSOCKETS.dec()
                self.runtime.sockets.forget(request)
        graphql_response = wants_graphql_response(request.headers.get("accept", ""))
        request.scope[GRAPHQL_RESPONSE_WANTED] = graphql_response
        try:
            stream = request.scope.get(STREAM)
            if isinstance(stream, EventStream) and context is UNSET:
                context = await self.get_context(request, None)  # type: ignore[arg-type]
                refused = self._open_stream(request, context, stream)
                if refused is not None:
                    return refused
            response = await super().run(request, context, root_value)
        except PersistedQueryError as refused:
            return refused.response(graphql_response)
        except HTTPException as exc:
            return _request_error(request, exc, graphql_response)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("service unavailable before execution: %s: %s", type(exc).__name__, exc)
            response = JSONResponse(
                unavailable_body(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        if graphql_response and response.headers.get("content-type") == "application/json":
            response.headers["content-type"] = GRAPHQL_RESPONSE_TYPE
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        """Strawberry's response; a request error in `application/graphql-response+json` has no `data`."""
        response = await super().process_result(request, result)
        if request.scope.get(GRAPHQL_RESPONSE_WANTED) and is_request_error(result):
            response.pop("data", None)
        return response

    def _open_stream(self, request: Request, context: Context, stream: EventStream) -> Response | None:
        """Authenticated and within its user's and customer's caps: the stream is watched by the
        socket guard and ended when too slow. Else the refusal (401, or 503 with Retry-After)."""
        token = bearer_token(request.headers.get("authorization"))
        if context.actor is None:
            return unauthenticated_response()
        ticket = request.scope.get(TICKET)
        if isinstance(ticket, SocketTicket):
            refused = self.runtime.socket_limits.authenticate(ticket, context.actor)
            if refused is not None:
                return too_many_streams(refused)
        self.runtime.sockets.watch(stream, context.actor, token)  # type: ignore[arg-type]
        context.on_too_slow = stream.too_slow
        return None

    async def create_streaming_response(
        self,
        request: Request,
        stream: Callable[[], Any],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        """Strawberry's event stream, which the socket guard or an overflow may end."""
        watched = request.scope.get(STREAM)
        if isinstance(watched, EventStream):
            stream = watched.guard(stream)
        return await super().create_streaming_response(request, stream, sub_response, headers)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """Authenticate the HTTP caller from its Authorization header, or else from the console's
        session cookie with its CSRF header (websockets: on connect)."""
        header = request.headers.get("authorization") if isinstance(request, Request) else None
        context = await build_context(request, response, header, self.runtime.bus)
        if header is None and isinstance(request, Request):
            context.actor = await self.sessions.http_actor(request)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """Authenticate `connection_init`'s token (or, without one, the console's session cookie of
        the upgrade with the CSRF token in `connection_init`); refuse the socket (4403) without a
        valid one, and close it with 1013 (try again later) when its user or customer holds as many
        as it may.

        Both protocols' handlers then find the socket closed: their own refusal (4403, or the legacy
        `connection_error` and 1011) is dropped by the adapter, so the client sees 1013 and why.
        """
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        token = bearer_token(header) if isinstance(header, str) else None
        if header is None:
            actor = await self.sessions.socket_actor(context.request, params)
            if actor is None:
                raise ConnectionRejectionError(_unauthenticated("a valid bearer token is required"))
        elif not token:
            raise ConnectionRejectionError(_unauthenticated("a valid bearer token is required"))
        else:
            try:
                actor = await authenticate(token)
            except AuthenticationError:
                raise ConnectionRejectionError(_unauthenticated("invalid token")) from None
        if isinstance(context.request, WebSocket):
            ticket = context.request.scope.get(TICKET)
            if isinstance(ticket, SocketTicket):
                refused = self.runtime.socket_limits.authenticate(ticket, actor)
                if refused is not None:
                    await context.request.close(TRY_AGAIN_LATER, refused)
                    raise ConnectionRejectionError({"message": refused})
            self.runtime.sockets.watch(context.request, actor, token)
        context.actor = actor
        context.connection_params = None  # the token is kept by the socket guard only
        return UNSET


def _unauthenticated(message: str) -> dict[str, object]:
    """A legacy `connection_error` payload: the message and UNAUTHENTICATED, as over HTTP."""
    return {"message": message, "extensions": {"code": "UNAUTHENTICATED"}}


def _request_error(request: Request, exc: HTTPException, graphql_response: bool) -> Response:
    """Strawberry's plain-text refusal as JSON errors with a code; a mutation over GET is 405 when
    `application/graphql-response+json` is wanted (400 under `application/json`, as before)."""
    refused = exc.__cause__
    code = http_error_code(exc.status_code, refused)
    if (
        graphql_response
        and request.method == "GET"
        and isinstance(refused, InvalidOperationTypeError)
        and refused.operation_type is OperationType.MUTATION
    ):
        return request_error_response(exc.reason, 405, {"Allow": "POST"}, code=code)
    return request_error_response(exc.reason, exc.status_code, code=code, graphql_response=graphql_response)

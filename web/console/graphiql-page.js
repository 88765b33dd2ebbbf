// GraphiQL on this service's /graphql, from vendored files. Headers (a bearer token) are kept in
// this tab's memory only: shouldPersistHeaders is off, and nothing goes into the URL. GraphiQL's
// fetcher sends the headers tab as the websocket's connection_init payload, so subscriptions are
// authenticated with the same Authorization header.
(function () {
  "use strict";
  var url = new URL("/graphql", window.location.href);
  var socket = new URL(url);
  socket.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: url.toString(), subscriptionUrl: socket.toString() });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultHeaders: '{\n  "Authorization": "Bearer <token from login or createApiToken>"\n}',
      defaultQuery: "# Log in with the login mutation, paste the token into Headers, then e.g.\n{ viewer { email role customer { name balance } } }\n",
    })
  );
})();

// Apollo Client with GraphQLWsLink and InMemoryCache: a watched `customer` query follows a grant
// through the `balanceChanged` subscription's `customer { id balance }`, with no cache code.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { bearer, done, env, httpUrl, waitFor, wsUrl } from "./common.mjs";

const CUSTOMER = gql`
  query Customer($id: ID!) { customer(id: $id) { id balance } }
`;
const BALANCE_CHANGED = gql`
  subscription BalanceChanged($customerId: ID!) {
    balanceChanged(customerId: $customerId) { sequence balance customer { id balance } }
  }
`;

// Node 20 has no global WebSocket, which GraphQLWsLink reads when a socket fails: as in a browser.
globalThis.WebSocket ??= WebSocket;

const token = env("TOKEN");
const customerId = env("CUSTOMER_ID");
const sockets = createClient({ url: wsUrl(), connectionParams: bearer(token) });
const isSubscription = ({ query }) => {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
};
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.split(
    isSubscription,
    new GraphQLWsLink(sockets),
    new HttpLink({ uri: httpUrl(), headers: bearer(token) }),
  ),
});

const balances = [];
const events = [];
const errors = [];
const failed = (error) => {
  errors.push(error.message);
  loaded.push();
  changed.push();
};
const loaded = waitFor(() => balances.length > 0 || errors.length > 0);
const changed = waitFor(() => balances.length > 1 || errors.length > 0);
client.watchQuery({ query: CUSTOMER, variables: { id: customerId } }).subscribe({
  next: ({ data, error }) => {
    if (error) return failed(error);
    const balance = data?.customer?.balance;
    if (balance !== undefined && balance !== balances.at(-1)) balances.push(balance);
    loaded.push();
    changed.push();
  },
  error: failed,
});
await loaded.promise;

// Subscribed once the query is in the cache; the test grants when the server runs the subscription.
client.subscribe({ query: BALANCE_CHANGED, variables: { customerId } }).subscribe({
  next: ({ data, error }) => (error ? failed(error) : events.push(data.balanceChanged)),
  error: failed,
});
await changed.promise;
await sockets.dispose();
done({ balances, events, errors });

// urql with `fetchSubscriptions`: `balanceChanged` over a fetch event stream, until UNTIL_SEQUENCE.
import { Client, cacheExchange, fetchExchange, gql } from "@urql/core";
import { bearer, done, env, httpUrl, waitFor } from "./common.mjs";

const BALANCE_CHANGED = gql`
  subscription BalanceChanged($customerId: ID!) {
    balanceChanged(customerId: $customerId) { sequence balance }
  }
`;

const until = Number(env("UNTIL_SEQUENCE"));
const client = new Client({
  url: httpUrl(),
  exchanges: [cacheExchange, fetchExchange],
  fetchSubscriptions: true,
  fetchOptions: () => ({ headers: bearer(env("TOKEN")) }),
});
const events = [];
const errors = [];
const finished = waitFor(() => errors.length > 0 || events.at(-1)?.sequence >= until);
const { unsubscribe } = client.subscription(BALANCE_CHANGED, { customerId: env("CUSTOMER_ID") }).subscribe((result) => {
  if (result.error) errors.push(result.error.message);
  if (result.data) events.push(result.data.balanceChanged);
  finished.push();
});
await finished.promise;
unsubscribe();
done({ events, errors });

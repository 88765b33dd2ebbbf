// graphql-sse's client (distinct connections mode) resumes `balanceChanged` with `afterSequence`:
// the committed entries after it, replayed, then live ones, until sequence UNTIL_SEQUENCE.
import { createClient } from "graphql-sse";
import { bearer, done, env, httpUrl } from "./common.mjs";

const BALANCE_CHANGED = `
  subscription ($customerId: ID!, $afterSequence: Int) {
    balanceChanged(customerId: $customerId, afterSequence: $afterSequence) { sequence balance }
  }
`;

const until = Number(env("UNTIL_SEQUENCE"));
const client = createClient({ url: httpUrl(), headers: bearer(env("TOKEN")), retryAttempts: 0 });
const events = [];
const errors = [];
const subscription = client.iterate({
  query: BALANCE_CHANGED,
  variables: { customerId: env("CUSTOMER_ID"), afterSequence: Number(env("AFTER_SEQUENCE")) },
});
try {
  for await (const result of subscription) {
    if (result.errors) errors.push(...result.errors.map((e) => e.extensions?.code ?? e.message));
    if (result.data) events.push(result.data.balanceChanged);
    if (errors.length || events.at(-1)?.sequence >= until) break;
  }
} catch (error) {
  errors.push(String(error?.message ?? error));
}
client.dispose();
done({ events, errors });

// Apollo's persisted-queries link from cold: the hash alone, PERSISTED_QUERY_NOT_FOUND, the query
// sent with its hash, then the hash alone is enough. Every request on the wire is recorded.
import { createHash, randomUUID } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { bearer, done, env, httpUrl } from "./common.mjs";

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const wire = [];

/** fetch, recording what each request carried and the codes of its answer's errors. */
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  const body = await response.clone().json().catch(() => null);
  const sent = init.method === "GET" ? Object.fromEntries(new URL(url).searchParams) : JSON.parse(init.body);
  wire.push({
    method: init.method,
    hasQuery: Boolean(sent.query),
    hasHash: JSON.stringify(sent.extensions ?? "").includes("sha256Hash"),
    status: response.status,
    codes: (body?.errors ?? []).map((e) => e.extensions?.code ?? null),
  });
  return response;
}

/** Run one (fresh, never persisted) query twice through a client with the link; what each run saw. */
async function twice(useGETForHashedQueries) {
  // A new operation name makes a document the server has never stored: cold.
  const name = `Viewer_${randomUUID().replaceAll("-", "")}`;
  const query = gql(`query ${name} { viewer { id role } }`);
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
      new HttpLink({ uri: httpUrl(), headers: bearer(env("TOKEN")), fetch: recordingFetch }),
    ),
  });
  const runs = [];
  for (let i = 0; i < 2; i += 1) {
    const start = wire.length;
    const result = await client.query({ query, fetchPolicy: "network-only" }).catch((error) => ({ error }));
    const role = result.data?.viewer?.role ?? null;
    runs.push({ role, error: result.error?.message ?? null, wire: wire.slice(start) });
  }
  return runs;
}

done({ post: await twice(false), get: await twice(true) });

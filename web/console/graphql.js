// GraphQL over HTTP to one endpoint, with a bearer token from a getter (the embeddable
// <credit-balance> on other sites) or the console's session cookie (session.js). Shared by the
// console and the element; no token ever goes into a URL.

/** A top-level GraphQL error (codes: UNAUTHENTICATED, FORBIDDEN, SERVICE_UNAVAILABLE, …). */
export class GraphQLError extends Error {
  constructor(errors, status) {
    super(errors.map((e) => e.message).join("; ") || `HTTP ${status}`);
    this.errors = errors;
    this.code = errors[0]?.extensions?.code || (status >= 500 ? "SERVICE_UNAVAILABLE" : "ERROR");
  }
}

/** The default endpoint: /graphql on the origin this module was loaded from. */
export function defaultEndpoint() {
  return new URL("/graphql", import.meta.url).toString();
}

/** The websocket URL of an HTTP endpoint. */
export function socketUrl(endpoint) {
  const url = new URL(endpoint, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/**
 * Credentials from a bearer token getter: `{ credentials, headers(), connectionParams() }`, the
 * shape GraphQLClient and the live connection take (session.js has the console's cookie one).
 */
export function bearerAuth(getToken) {
  return {
    credentials: "omit",
    async headers() {
      const token = await getToken?.();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
    async connectionParams() {
      return { Authorization: `Bearer ${(await getToken?.()) || ""}` };
    },
  };
}

/** `auth` as credentials: a token getter (or nothing) becomes bearerAuth. */
export function asAuth(auth) {
  return auth && typeof auth === "object" ? auth : bearerAuth(auth);
}

export class GraphQLClient {
  /** `auth`: a function returning the bearer token, or credentials such as session.js's. */
  constructor(endpoint, auth) {
    this.endpoint = endpoint;
    this.auth = asAuth(auth);
  }

  /** The `data` of a response; throws GraphQLError on top-level errors. */
  async request(query, variables = {}) {
    const headers = { "Content-Type": "application/json", Accept: "application/json", ...(await this.auth.headers()) };
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables }),
        credentials: this.auth.credentials,
      });
    } catch {
      throw new GraphQLError([{ message: "The service cannot be reached. Check the connection and retry.", extensions: { code: "NETWORK" } }], 0);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!body || body.errors?.length) {
      const error = new GraphQLError(body?.errors || [], response.status);
      if (error.code === "UNAUTHENTICATED") {
        window.dispatchEvent(new CustomEvent("credits:unauthenticated", { detail: { endpoint: this.endpoint } }));
      }
      throw error;
    }
    return body.data;
  }
}

/** A fresh idempotency key for one user action (also outside secure contexts). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

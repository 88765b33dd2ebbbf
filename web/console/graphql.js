// GraphQL over HTTP to one endpoint, with a bearer token from a getter. Shared by the console and
// the embeddable <credit-balance>; no token ever goes into a URL.

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

export class GraphQLClient {
  constructor(endpoint, getToken) {
    this.endpoint = endpoint;
    this.getToken = getToken;
  }

  /** The `data` of a response; throws GraphQLError on top-level errors. */
  async request(query, variables = {}) {
    const token = await this.getToken?.();
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables }),
        credentials: "omit",
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

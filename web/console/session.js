// The console's login session. The server keeps it in an HttpOnly cookie that no script of the
// page can read; the page holds no token at all, in memory or in storage. What the page does read
// is the CSRF token of its own cookie, which proves a request comes from the console's own pages
// (sent as X-CSRF-Token over HTTP and as csrfToken in the websocket's connection_init): alone it
// grants nothing. Every tab of the browser shares the session; logging in or out in one tab tells
// the others (BroadcastChannel), and the server refuses the ended session's cookie anyway.
const SESSION_URL = "/console/session";
const CSRF_COOKIES = ["__Host-credits_csrf", "credits_csrf"]; // production, development
const channel = "BroadcastChannel" in window ? new BroadcastChannel("credits.session") : null;

/** The CSRF token of the current session (null when this browser has none). */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const at = part.indexOf("=");
    const name = part.slice(0, at).trim();
    if (at > 0 && CSRF_COOKIES.includes(name)) return decodeURIComponent(part.slice(at + 1).trim());
  }
  return null;
}

/** Credentials for GraphQLClient and the live connection: the cookie, with the CSRF token. */
export const sessionAuth = {
  credentials: "same-origin",
  headers: () => {
    const token = csrfToken();
    return token ? { "X-CSRF-Token": token } : {};
  },
  connectionParams: () => ({ csrfToken: csrfToken() || "" }),
};

function unreachable() {
  return { userErrors: [{ code: "NETWORK", message: "The service cannot be reached. Check the connection and retry." }] };
}

/** Start a session with email and password; `{ userErrors }` as a login mutation would answer. */
export async function logIn(email, password) {
  let response;
  try {
    response = await fetch(SESSION_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ email, password }),
      credentials: "same-origin",
    });
  } catch {
    return unreachable();
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok) {
    channel?.postMessage("login");
    return { userErrors: [], expiresAt: body?.expiresAt };
  }
  const errors = (body?.errors || []).map((e) => ({ code: e.extensions?.code, message: e.message }));
  return { userErrors: errors.length ? errors : [{ code: "ERROR", message: `The service answered ${response.status}. Try again.` }] };
}

/**
 * End the session on the server (its sockets close everywhere) and clear its cookies, then tell the
 * other tabs: `reason` "logout" (the user's), or "ended" (the server had refused the session).
 */
export async function logOut(reason = "logout") {
  const token = csrfToken();
  let ended = !token;
  if (token) {
    try {
      const response = await fetch(SESSION_URL, { method: "DELETE", headers: { "X-CSRF-Token": token }, credentials: "same-origin" });
      ended = response.ok;
    } catch {
      ended = false;
    }
  }
  channel?.postMessage(reason);
  return ended;
}

/** Call `handler("login" | "logout" | "ended")` when another tab of this browser logs in or out. */
export function onOtherTabs(handler) {
  channel?.addEventListener("message", (event) => handler(event.data));
}

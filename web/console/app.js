// The console: session, top menu, router. Screens live in their own modules; every one of them
// uses the public GraphQL API only. The login is the server's HttpOnly session cookie (session.js):
// no token in the page, its storage or a URL. Every tab of the browser shares it, a reload keeps
// the screen (the URL is the state), and a logout in one tab logs every tab out.
import "./credit-balance-define.js";
import { h, replace, labelTableCells } from "./dom.js";
import { GraphQLClient, defaultEndpoint, socketUrl } from "./graphql.js";
import { closeAll, liveFor } from "./live.js";
import { csrfToken, logOut, onOtherTabs, sessionAuth } from "./session.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const endpoint = defaultEndpoint();
const client = new GraphQLClient(endpoint, sessionAuth);
const ENDED = "Your session has ended (it expired or was revoked). Log in again.";
const LOGGED_OUT_ELSEWHERE = "You logged out in another tab.";

const VIEWER = `query Viewer { viewer { id email name role customer { id name } } }`;

const ROLE_NAMES = { CATALOG_ADMIN: "Catalog administrator", CUSTOMER_ADMIN: "Customer administrator", END_USER: "End user" };
// Only customer administrators receive notifications (of their own customer): the others get no bell.
const BELL_ROLES = ["CUSTOMER_ADMIN"];
// Where a notification leads: the balance and the lots are on the dashboard, endpoints on Webhooks.
const NOTIFICATION_LINKS = {
  BELOW_ZERO: ["/dashboard", "See the balance and ledger"],
  BELOW_THRESHOLD: ["/dashboard", "See the balance and ledger"],
  CREDITS_EXPIRING: ["/dashboard", "See the credit lots"],
  RUNWAY_LOW: ["/dashboard", "See the runway"],
  AUTO_TOP_UP_LIMIT_REACHED: ["/dashboard", "See the balance and ledger"],
  WEBHOOK_DISABLED: ["/webhooks", "See the webhook endpoints"],
};
const HOME = { CATALOG_ADMIN: "/customers", CUSTOMER_ADMIN: "/dashboard", END_USER: "/services" };
const NAV = {
  CATALOG_ADMIN: [["/customers", "Customers"], ["/requests", "Requests"], ["/catalog", "Catalog"], ["/webhooks", "Webhooks"], ["/tokens", "API tokens"]],
  CUSTOMER_ADMIN: [["/dashboard", "Dashboard"], ["/services", "Services"], ["/users", "Users"], ["/webhooks", "Webhooks"], ["/tokens", "API tokens"]],
  END_USER: [["/services", "Services"], ["/tokens", "API tokens"]],
};

// path pattern, roles allowed, module and export of the screen
const ROUTES = [
  [/^\/dashboard$/, ["CUSTOMER_ADMIN"], "./dashboard.js", "dashboard"],
  [/^\/services$/, ["CUSTOMER_ADMIN", "END_USER"], "./services-screen.js", "services"],
  [/^\/customers$/, ["CATALOG_ADMIN"], "./catalog.js", "customers"],
  [/^\/customers\/([^/]+)$/, ["CATALOG_ADMIN"], "./catalog.js", "customerDetail"],
  [/^\/customers\/([^/]+)\/credit-management$/, ["CATALOG_ADMIN"], "./catalog.js", "creditManagement"],
  [/^\/customers\/([^/]+)\/users$/, ["CATALOG_ADMIN"], "./catalog.js", "customerUsers"],
  [/^\/users$/, ["CUSTOMER_ADMIN"], "./users.js", "users"],
  [/^\/catalog$/, ["CATALOG_ADMIN"], "./catalog.js", "catalog"],
  [/^\/requests$/, ["CATALOG_ADMIN"], "./requests.js", "requests"],
  [/^\/requests\/([^/]+)$/, ["CATALOG_ADMIN", "CUSTOMER_ADMIN"], "./request.js", "requestDetail"],
  [/^\/webhooks$/, ["CATALOG_ADMIN", "CUSTOMER_ADMIN"], "./webhooks.js", "webhooks"],
  [/^\/webhooks\/([^/]+)$/, ["CATALOG_ADMIN", "CUSTOMER_ADMIN"], "./webhooks.js", "webhookEndpoint"],
  [/^\/tokens$/, ["CATALOG_ADMIN", "CUSTOMER_ADMIN", "END_USER"], "./tokens.js", "tokens"],
];

let viewer = null;
let cleanup = null;
let notice = null; // shown once by the next login screen

function live() {
  return liveFor(socketUrl(endpoint), sessionAuth);
}

/** Whether the console has a screen at `path` (for some role). */
function isConsolePath(path) {
  return path === "/" || path === "/login" || ROUTES.some(([pattern]) => pattern.test(path));
}

/** The login page's URL, remembering a screen to come back to. */
function loginUrl(path = location.pathname) {
  return path === "/" || path === "/login" || !isConsolePath(path) ? "/login" : `/login?next=${encodeURIComponent(path)}`;
}

/** Where the login page came from: a console path of this origin only (never `//host` or a URL). */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next");
  return next && /^\/(?![/\\])/.test(next) && isConsolePath(next) ? next : null;
}

/** Go to `path` inside the console. */
export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  moved = true;
  render();
}

// After the user moves to another screen, focus goes to its content (screen readers announce it).
let moved = false;

/** Leave this tab's signed-in state: live connections closed, back to the login page. */
function signedOut(message = null, { keepScreen = false } = {}) {
  notice = message;
  viewer = null;
  closeAll();
  navigate(keepScreen ? loginUrl() : "/login", { replaceState: true });
}

async function logout() {
  const ended = await logOut();
  signedOut(ended ? null : "The service could not be reached: this tab is logged out, but the session stays valid until it expires.");
}

/** The server refused the session: ended in another tab (its cookie is gone), or expired or revoked. */
async function sessionEnded() {
  if (!viewer) return;
  const elsewhere = !csrfToken();
  viewer = null;
  closeAll();
  if (!elsewhere) await logOut("ended"); // clears the dead session's cookies (and tells the other tabs)
  signedOut(elsewhere ? LOGGED_OUT_ELSEWHERE : ENDED, { keepScreen: !elsewhere });
}

onOtherTabs((kind) => {
  if (kind === "login" && !viewer) render();
  else if (kind === "logout" && viewer) signedOut(LOGGED_OUT_ELSEWHERE);
  else if (kind === "ended" && viewer) signedOut(ENDED, { keepScreen: true });
});

window.addEventListener("credits:unauthenticated", sessionEnded);
window.addEventListener("popstate", () => render());
document.addEventListener("click", (event) => {
  // composedPath: a link inside a custom element's shadow root (the bell's) is not event.target here.
  const link = (event.composedPath?.()[0] ?? event.target).closest?.("a[href]");
  if (!link || link.target || link.hasAttribute("download") || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/graphql") || url.pathname.startsWith("/static")) return;
  event.preventDefault();
  navigate(url.pathname);
});

let topbarFor = null;

function renderTopbar() {
  const here = location.pathname;
  if (!viewer) {
    topbar.hidden = true;
    topbar.replaceChildren();
    topbarFor = null;
    return;
  }
  if (topbarFor === viewer.id) {
    for (const link of topbar.querySelectorAll("nav a")) {
      const path = link.getAttribute("href");
      if (here === path || here.startsWith(path + "/")) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    return;
  }
  topbarFor = viewer.id;
  const badge = document.createElement("credit-balance");
  badge.addEventListener("credit-balance:unauthenticated", sessionEnded);
  if (!BELL_ROLES.includes(viewer.role)) badge.setAttribute("no-bell", "");
  badge.notificationLink = (note) => {
    const [href, label] = NOTIFICATION_LINKS[note.kind] || [];
    return href ? { href, label } : null;
  };
  badge.auth = sessionAuth;
  const links = NAV[viewer.role].map(([path, label]) =>
    h("a", { href: path, "aria-current": here === path || here.startsWith(path + "/") ? "page" : null }, label),
  );
  replace(
    topbar,
    h("a", { class: "brand", href: HOME[viewer.role] }, h("span", { class: "logo", "aria-hidden": "true" }, "C"), "Credits"),
    h("nav", { "aria-label": "Main" }, links),
    h(
      "div",
      { class: "account" },
      badge,
      h("span", { class: "who" }, h("span", { class: "who-name" }, viewer.name), h("span", { class: "who-role" }, ROLE_NAMES[viewer.role])),
      h("button", { type: "button", class: "button subtle", onclick: () => logout() }, "Log out"),
    ),
  );
  topbar.hidden = false;
}

/** The login screen (its module loaded on first use), showing the notice kept for it. */
async function loginScreen(mine) {
  replace(main, loadingView());
  const { loginScreen: show } = await import("./login.js");
  if (mine !== generation) return;
  const shown = notice;
  notice = null;
  show(main, {
    notice: shown,
    loggedIn: async () => {
      const next = nextPath();
      await loadViewer();
      navigate(next || HOME[viewer.role], { replaceState: true });
    },
  });
}

async function loadViewer() {
  viewer = (await client.request(VIEWER)).viewer;
  return viewer;
}

function notFound() {
  document.title = "Page not found · Credits";
  const back = viewer ? h("a", { class: "button", href: HOME[viewer.role] }, "Go to your start page") : h("a", { class: "button", href: "/login" }, "Go to the login page");
  replace(
    main,
    h(
      "section",
      { class: "empty-state not-found" },
      h("p", { class: "muted" }, "404"),
      h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at ", h("code", {}, location.pathname), ". Check the address, or start again from the console."),
      back,
    ),
  );
}

function notAvailable() {
  document.title = "Not available · Credits";
  replace(
    main,
    h(
      "section",
      { class: "empty-state" },
      h("h1", {}, "This page is not available"),
      h("p", {}, "It does not exist, or your role cannot open it."),
      h("a", { class: "button", href: HOME[viewer.role] }, "Go to your start page"),
    ),
  );
}

/** A screen's place while it loads: a heading and card skeleton, aria-busy, "Loading" said once. */
function loadingView() {
  const bar = (kind) => h("div", { class: `skeleton ${kind}`, "aria-hidden": "true" });
  return h(
    "div",
    { class: "view loading", "aria-busy": "true" },
    h("p", { class: "visually-hidden", role: "status" }, "Loading…"),
    bar("title"),
    h("div", { class: "card skeleton-card", "aria-hidden": "true" }, bar("line"), bar("line short"), bar("block")),
  );
}

// Each render has a generation: a screen still loading when the user has already moved on draws
// into a detached element and is cleaned up at once, never over the newer screen.
let generation = 0;

async function render() {
  const mine = ++generation;
  const focusedBefore = document.activeElement;
  cleanup?.();
  cleanup = null;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  if (!viewer && csrfToken()) {
    // A session cookie of this browser (another tab's login, or before a reload): who is it?
    try {
      await loadViewer();
      if (mine !== generation) return;
    } catch (error) {
      if (mine !== generation) return;
      if (error.code === "UNAUTHENTICATED") {
        await logOut("ended"); // the session expired or was revoked: clear its cookies
        if (mine !== generation) return;
        notice = ENDED;
      } else {
        replace(main, h("section", { class: "empty-state" }, h("h1", {}, "The service cannot be reached"), h("p", {}, error.message), h("button", { type: "button", class: "button", onclick: () => render() }, "Try again")));
        return;
      }
    }
  }
  if (!viewer) {
    renderTopbar();
    if (!isConsolePath(path)) return notFound();
    const login = loginUrl(path);
    if (path !== "/login") history.replaceState(null, "", login);
    return loginScreen(mine);
  }
  if (path === "/" || path === "/login") return navigate(nextPath() || HOME[viewer.role], { replaceState: true });
  renderTopbar();
  const route = ROUTES.map(([pattern, roles, module, name]) => [path.match(pattern), roles, module, name]).find(([m]) => m);
  if (!route) return notFound();
  if (!route[1].includes(viewer.role)) return notAvailable();
  const [match, , module, name] = route;
  // The new screen's skeleton at once, under the new menu highlight, until the screen has drawn.
  const view = loadingView();
  replace(main, view);
  const screens = await import(module);
  if (mine !== generation) return;
  const context = { client, live: live(), viewer, navigate };
  const done = await screens[name](view, context, ...match.slice(1).map(decodeURIComponent));
  if (mine !== generation) return done?.();
  view.removeAttribute("aria-busy");
  view.classList.remove("loading");
  cleanup = done || null;
  // Focus moves to the new screen unless the user has put it somewhere else while the screen loaded.
  const untouched = document.activeElement === focusedBefore || document.activeElement === document.body;
  if (moved && untouched && !main.contains(document.activeElement)) {
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
  moved = false;
}

labelTableCells(main);
render();

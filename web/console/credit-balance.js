// <credit-balance>: the top-menu balance and notifications bell as one custom element, for the
// console (which sets `auth` to its session's credentials: session.js) and for any single-page app
// that loads it from the service. Plain DOM, no framework. How to embed it, its attributes,
// properties and events: README, "Embedding the balance and bell".
import "./relative-time-define.js";
import { GraphQLClient, defaultEndpoint, socketUrl } from "./graphql.js";
import { liveFor, watchBalance } from "./live.js";
import { balanceState, formatAmount } from "./money.js";

const VIEWER = `query Badge { viewer { id role unreadNotificationCount customer { id } } }`;
const UNREAD = `query Unread { viewer { unreadNotificationCount } }`;
const NOTE = `id kind message balance threshold createdAt read customer { id name } lot { id }`;
const NOTIFICATIONS = `query Notifications { notifications(first: 20) { nodes { ${NOTE} } } }`;
const ADDED = `subscription Added { notificationAdded { ${NOTE} } }`;

const STATE_LABEL = { negative: "below zero", low: "below the alert threshold", ok: "", unknown: "" };

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== null && value !== false) element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((c) => c !== null && c !== undefined));
  return element;
}

function bellIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(ns, "svg");
  icon.setAttribute("viewBox", "0 0 16 16");
  icon.setAttribute("width", "16");
  icon.setAttribute("height", "16");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute(
    "d",
    "M8 16a2 2 0 0 0 1.985-1.75c.017-.137-.097-.25-.235-.25h-3.5c-.138 0-.252.113-.235.25A2 2 0 0 0 8 16ZM3 5a5 5 0 0 1 10 0v2.947c0 .05.015.098.042.139l1.703 2.555A1.519 1.519 0 0 1 13.482 13H2.518a1.516 1.516 0 0 1-1.263-2.36l1.703-2.554A.255.255 0 0 0 3 7.947Zm5-3.5A3.5 3.5 0 0 0 4.5 5v2.947c0 .346-.102.683-.294.97l-1.703 2.556a.017.017 0 0 0-.003.01l.001.006c0 .002.002.004.004.006l.006.004.007.001h10.964l.007-.001.006-.004.004-.006.001-.007a.017.017 0 0 0-.003-.01l-1.703-2.554a1.745 1.745 0 0 1-.294-.97V5A3.5 3.5 0 0 0 8 1.5Z",
  );
  path.setAttribute("fill", "currentColor");
  icon.append(path);
  return icon;
}

export class CreditBalanceElement extends HTMLElement {
  static observedAttributes = ["endpoint", "customer-id", "no-bell"];

  constructor() {
    super();
    this._tokenGetter = null;
    this.notificationLink = null;
    this._cleanup = [];
    this.notifications = [];
    this.unread = 0;
    const root = this.attachShadow({ mode: "open" });
    root.append(el("link", { rel: "stylesheet", href: new URL("./credit-balance.css", import.meta.url).toString() }));
    this.balanceEl = el("span", { class: "balance", role: "status", "aria-live": "polite", "aria-label": "Credit balance", part: "balance" });
    this.stateEl = el("span", { class: "visually-hidden" });
    this.wrapEl = el("span", { class: "wrap", hidden: true }, el("span", { class: "caption", "aria-hidden": "true" }, "Credits"), this.balanceEl, this.stateEl);
    this.countEl = el("span", { class: "count", hidden: true });
    this.bellButton = el(
      "button",
      { type: "button", class: "bell", "aria-expanded": "false", "aria-haspopup": "true", onclick: () => this.toggle() },
      bellIcon(),
      el("span", { class: "visually-hidden" }, "Notifications"),
      this.countEl,
    );
    // The panel (credit-balance-panel.js) is loaded and added the first time the bell is opened.
    this.panelLoading = null;
    this.panelView = null;
    this.panelOpen = false;
    this.bellEl = el("span", { class: "bell-wrap" }, this.bellButton);
    root.append(this.wrapEl, this.bellEl);
    // While the panel is open: Escape anywhere closes it (focus back on the bell), and so does a
    // click anywhere outside the element (focus stays where the click put it).
    this.onKey = (event) => {
      if (event.key === "Escape" && this.panelOpen) {
        this.toggle(false);
        this.bellButton.focus();
      }
    };
    this.onOutside = (event) => {
      if (this.panelOpen && !event.composedPath().includes(this)) this.toggle(false);
    };
  }

  /** A function returning the bearer token (or a promise of it). Setting it (re)starts the element. */
  get tokenGetter() {
    return this._tokenGetter;
  }

  set tokenGetter(getter) {
    this._tokenGetter = getter;
    if (this.isConnected) this.restart();
  }

  /** Credentials other than a bearer token (the console's session: session.js). Setting them (re)starts. */
  get auth() {
    return this._auth || null;
  }

  set auth(auth) {
    this._auth = auth;
    if (this.isConnected) this.restart();
  }

  get endpoint() {
    return this.getAttribute("endpoint") || defaultEndpoint();
  }

  set endpoint(value) {
    this.setAttribute("endpoint", value);
  }

  get customerId() {
    return this.getAttribute("customer-id");
  }

  set customerId(value) {
    if (value) this.setAttribute("customer-id", value);
    else this.removeAttribute("customer-id");
  }

  /** The balance shown, as the API's Decimal string (null before the first answer). */
  get balance() {
    return this.watch?.balance ?? null;
  }

  connectedCallback() {
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("pointerdown", this.onOutside);
    if (this._tokenGetter || this._auth) this.restart();
  }

  disconnectedCallback() {
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("pointerdown", this.onOutside);
    this._run = (this._run || 0) + 1; // a restart still waiting for its answer must not subscribe
    this.stop();
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (oldValue !== newValue && this.isConnected && (this._tokenGetter || this._auth)) this.restart();
  }

  stop() {
    for (const cleanup of this._cleanup.splice(0)) cleanup();
    this.watch = null;
  }

  async restart() {
    const run = (this._run = (this._run || 0) + 1);
    this.stop();
    const auth = this._auth || (() => this._tokenGetter?.());
    this.client = new GraphQLClient(this.endpoint, auth);
    this.live = liveFor(socketUrl(this.endpoint), auth);
    this.bellEl.hidden = this.hasAttribute("no-bell");
    let wasLive = false;
    const onState = () => {
      // Back to live (the first time too): notifications made meanwhile never come as events.
      const live = this.live.state === "live";
      if (live && !wasLive && !this.hasAttribute("no-bell")) this.refreshUnread();
      wasLive = live;
      this.render();
    };
    const onForbidden = () => this.unauthenticated();
    this.live.addEventListener("state", onState);
    this.live.addEventListener("forbidden", onForbidden);
    this._cleanup.push(() => {
      this.live.removeEventListener("state", onState);
      this.live.removeEventListener("forbidden", onForbidden);
    });
    let viewer;
    try {
      viewer = (await this.client.request(VIEWER)).viewer;
    } catch (error) {
      if (error.code === "UNAUTHENTICATED" && run === this._run) this.unauthenticated();
      return;
    }
    if (run !== this._run) return; // restarted (or stopped) meanwhile: the newer run subscribes
    this.unread = viewer.unreadNotificationCount || 0;
    const customerId = this.customerId || viewer.customer?.id || null;
    this.watch = null;
    if (customerId) {
      this.watch = watchBalance(this.live, this.client, this.customerId);
      const onChange = (event) => {
        this.scheduleRender();
        this.dispatchEvent(new CustomEvent("credit-balance:change", { detail: event.detail, bubbles: true, composed: true }));
      };
      const watch = this.watch;
      watch.addEventListener("change", onChange);
      watch.addEventListener("ready", onState);
      watch.addEventListener("threshold", onState);
      watch.addEventListener("sync", onState);
      this._cleanup.push(() => {
        watch.removeEventListener("sync", onState);
        watch.removeEventListener("change", onChange);
        watch.removeEventListener("ready", onState);
        watch.removeEventListener("threshold", onState);
        watch.release();
      });
    }
    if (!this.hasAttribute("no-bell")) {
      const dispose = this.live.subscribe(ADDED, {}, (data) => {
        this.unread += 1;
        this.notifications.unshift(data.notificationAdded);
        this.refreshUnread(); // the server's count: the event may also be in an earlier read
        // An alert may come from a threshold set elsewhere: show the threshold as it now is.
        this.watch?.refreshThreshold();
        this.panelView?.render();
        this.render();
      });
      this._cleanup.push(dispose);
      if (this.live.state === "live") this.refreshUnread(); // what came before the subscription
    }
    this.render();
  }

  /** The unread count as the server has it (after a reconnect, and after each new notification). */
  async refreshUnread() {
    const run = this._run;
    try {
      const count = (await this.client.request(UNREAD)).viewer.unreadNotificationCount;
      if (run !== this._run) return;
      this.unread = count || 0;
      this.render();
    } catch {
      // offline or signed out: the next return to live reads it again
    }
  }

  unauthenticated() {
    this.dispatchEvent(new CustomEvent("credit-balance:unauthenticated", { bubbles: true, composed: true }));
  }

  scheduleRender() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      this.render();
    });
  }

  /**
   * The badge: the live number; while disconnected, the last one marked as not live; back connected,
   * marked "updating" until the changes made meanwhile have arrived.
   */
  render() {
    const watch = this.watch;
    this.wrapEl.hidden = !watch;
    if (watch) {
      const connected = this.live?.state === "live";
      const live = connected && watch.balance !== null && !watch.syncing;
      const state = balanceState(watch.balance, watch.threshold);
      this.wrapEl.dataset.state = live ? state : "stale";
      const shown = formatAmount(watch.balance);
      const why = connected ? "updating" : this.live?.state === "offline" ? "reconnecting" : "connecting";
      if (watch.balance === null) this.balanceEl.textContent = "…";
      else if (live) this.balanceEl.textContent = shown;
      else this.balanceEl.textContent = `${shown} (${why})`;
      this.balanceEl.setAttribute("aria-busy", String(connected && watch.syncing));
      this.stateEl.textContent = live && STATE_LABEL[state] ? `, ${STATE_LABEL[state]}` : "";
      this.wrapEl.title = live ? "Credit balance, live" : connected ? "Updating: the changes made while disconnected are arriving" : "Not connected: this is the last known balance";
    }
    this.countEl.hidden = this.unread === 0;
    this.countEl.textContent = String(this.unread);
    this.bellButton.setAttribute("aria-label", this.unread ? `Notifications, ${this.unread} unread` : "Notifications");
  }

  /** Open or close the bell's panel; opening reads the notifications again. */
  async toggle(open = !this.panelOpen) {
    this.panelOpen = open;
    this.bellButton.setAttribute("aria-expanded", String(open));
    if (this.panelView) this.panelView.element.hidden = !open;
    if (!open) return;
    this.panelLoading ??= import("./credit-balance-panel.js")
      .then(({ notificationPanel }) => notificationPanel(this))
      .catch((error) => {
        this.panelLoading = null; // the next opening tries again
        throw error;
      });
    const [panel, notifications] = await Promise.all([this.panelLoading, this.client.request(NOTIFICATIONS).then((data) => data.notifications.nodes, () => [])]);
    if (!this.panelView) {
      this.panelView = panel;
      this.bellEl.append(panel.element);
    }
    this.notifications = notifications;
    this.unread = notifications.filter((n) => !n.read).length;
    panel.element.hidden = !this.panelOpen;
    panel.render();
    this.render();
  }
}

// One websocket per tab and endpoint (graphql-transport-ws, through the vendored graphql-ws client).
// It reconnects with backoff; `balanceChanged` resumes with afterSequence, so a badge never misses
// or double-applies a change; a 4403 close means the token (or the console's session) is no longer valid.
// graphql-ws's minified UMD build (10 KB; its ES modules: 24 KB), run behind umd-guard.js.
import { takeBack } from "./umd-guard.js";
import "../vendor/graphql-ws@6.4.2/graphql-ws.min.js";
import { asAuth } from "./graphql.js";

const { createClient } = takeBack("graphqlWs");

const FORBIDDEN = 4403;
const sockets = new Map();

function backoff(retries) {
  const base = Math.min(250 * 2 ** retries, 8000);
  const jitter = Math.floor(Math.random() * 250);
  return new Promise((resolve) => setTimeout(resolve, base + jitter));
}

/** The live connection: `state` is "connecting", "live" or "offline"; events "state", "forbidden". */
export class Live extends EventTarget {
  /** `auth`: a bearer token getter, or credentials such as session.js's. */
  constructor(url, auth) {
    super();
    auth = asAuth(auth);
    this.url = url;
    this.state = "connecting";
    this.watches = new Map();
    this.client = createClient({
      url,
      lazy: true,
      lazyCloseTimeout: 1000,
      keepAlive: 10000,
      retryAttempts: Infinity,
      retryWait: backoff,
      shouldRetry: (event) => !(event && event.code === FORBIDDEN),
      connectionParams: () => auth.connectionParams(),
      on: {
        connecting: () => this.setState(this.state === "live" ? "offline" : "connecting"),
        connected: () => this.setState("live"),
        closed: (event) => {
          this.setState("offline");
          if (event && event.code === FORBIDDEN) this.dispatchEvent(new Event("forbidden"));
        },
      },
    });
    this.onOffline = () => this.client.terminate();
    window.addEventListener("offline", this.onOffline);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new Event("state"));
  }

  /**
   * Run a subscription; `payload` is the object graphql-ws sends again after every reconnect, so
   * changing its variables in `next` (e.g. afterSequence) changes what a resubscription asks for.
   */
  subscribe(query, variables, next, error = () => {}) {
    const payload = { query, variables: { ...variables } };
    return this.client.subscribe(payload, {
      next: (result) => (result.data ? next(result.data, payload) : error(result.errors)),
      error: (reason) => error(reason),
      complete: () => {},
    });
  }

  close() {
    window.removeEventListener("offline", this.onOffline);
    this.client.dispose();
    for (const watch of this.watches.values()) watch.stop();
    this.watches.clear();
  }
}

/** The tab's live connection to `url` (created on first use). */
export function liveFor(url, auth) {
  let live = sockets.get(url);
  if (!live) {
    live = new Live(url, auth);
    sockets.set(url, live);
  }
  return live;
}

/** Close every live connection (logout). */
export function closeAll() {
  for (const live of sockets.values()) live.close();
  sockets.clear();
}

// What each entry did to each lot (lot null: the debt), as the ledger table shows it.
export const ALLOCATIONS = "allocations { amount lot { id priority expiresAt transaction { sequence } } }";
// The request a charge or refund belongs to, for the ledger's service link.
export const SERVICE_REQUEST = "serviceRequest { id service { id name } }";

const BALANCE = `subscription Balance($customerId: ID, $afterSequence: Int) {
  balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {
    customerId balance sequence
    transaction { id sequence kind amount balanceAfter createdAt note ${SERVICE_REQUEST} ${ALLOCATIONS} }
  }
}`;

// balance and lastSequence come from one row: subscribing after lastSequence misses nothing and
// replays nothing, whatever commits between this query and the subscription.
const ANCHOR = `query Anchor($id: ID) { customer(id: $id) { id name balance lastSequence alertThreshold } }`;
const THRESHOLD = `query Threshold($id: ID) { customer(id: $id) { id alertThreshold lastSequence } }`;
// The customer's settings as committed, each time they change (a threshold set in another tab or by
// the catalog administrator).
const SETTINGS = `subscription CustomerSettings($customerId: ID) { customerChanged(customerId: $customerId) { id alertThreshold } }`;

/**
 * One customer's balance, kept live: `balance`, `sequence`, `threshold`; a "change" event per applied
 * ledger entry (detail: the BalanceEvent). Shared by every view of the tab that shows that customer.
 * After a reconnect `syncing` is true (a "sync" event) until the entries committed meanwhile have
 * arrived: until then `balance` is the last known one, not the live one.
 */
export class BalanceWatch extends EventTarget {
  constructor(live, client, customerId) {
    super();
    this.live = live;
    this.client = client;
    this.customerId = customerId;
    this.balance = null;
    this.sequence = null;
    this.threshold = null;
    this.syncing = false;
    this.target = null; // while syncing: the newest sequence the ledger had when the socket came back
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  async start() {
    const data = await this.client.request(ANCHOR, { id: this.customerId });
    const customer = data.customer;
    if (!customer) throw new Error("customer not found");
    this.customerId = customer.id;
    this.name = customer.name;
    this.threshold = customer.alertThreshold;
    this.balance = customer.balance;
    this.sequence = customer.lastSequence;
    // Settings set elsewhere (another tab, the catalog administrator) arrive live; what changed
    // while the socket was down is read again when it is back, or when the tab is looked at again.
    this.onVisible = () => document.visibilityState === "visible" && this.refreshSettings();
    document.addEventListener("visibilitychange", this.onVisible);
    this.onState = () => {
      if (this.live.state === "offline") this.setSyncing(true);
      else if (this.live.state === "live" && this.syncing) this.catchUp();
    };
    this.live.addEventListener("state", this.onState);
    this.dispose = this.live.subscribe(
      BALANCE,
      { customerId: this.customerId, afterSequence: this.sequence },
      (data, payload) => this.apply(data.balanceChanged, payload),
    );
    // Every settings change is a "settings" event too: views of the other settings read them again.
    this.disposeSettings = this.live.subscribe(SETTINGS, { customerId: this.customerId }, (data) => {
      this.setThreshold(data.customerChanged.alertThreshold);
      this.dispatchEvent(new Event("settings"));
    });
    this.dispatchEvent(new Event("ready"));
    return this;
  }

  apply(event, payload) {
    if (event.sequence <= this.sequence) return; // already applied (a replay after a reconnect)
    this.sequence = event.sequence;
    this.balance = event.balance;
    payload.variables.afterSequence = event.sequence;
    this.dispatchEvent(new CustomEvent("change", { detail: event }));
    this.checkCaughtUp();
  }

  setSyncing(syncing) {
    this.target = null;
    if (syncing === this.syncing) return;
    this.syncing = syncing;
    this.dispatchEvent(new Event("sync"));
  }

  /** Back live after an outage: where the ledger stands now; synced once the replay reaches it. */
  async catchUp() {
    const customer = await this.refreshSettings();
    if (this.live.state !== "live") return; // down again: the next reconnect asks again
    if (!customer) return this.setSyncing(false); // unreadable: the replay is all there is
    this.target = customer.lastSequence;
    this.checkCaughtUp();
  }

  checkCaughtUp() {
    if (this.syncing && this.target !== null && this.sequence >= this.target) this.setSyncing(false);
  }

  /** Read the alert threshold again (a "threshold" event when it changed); the customer read, or null. */
  async refreshThreshold() {
    let customer = null;
    try {
      customer = (await this.client.request(THRESHOLD, { id: this.customerId })).customer;
    } catch {
      return null;
    }
    if (customer) this.setThreshold(customer.alertThreshold);
    return customer;
  }

  /** Read the threshold again, and have the views of the other settings read theirs ("settings"). */
  async refreshSettings() {
    const customer = await this.refreshThreshold();
    this.dispatchEvent(new Event("settings"));
    return customer;
  }

  /** Take the alert threshold as committed; a "threshold" event when it changed. */
  setThreshold(threshold) {
    if (threshold === this.threshold) return;
    this.threshold = threshold;
    this.dispatchEvent(new Event("threshold"));
  }

  stop() {
    this.dispose?.();
    this.disposeSettings?.();
    if (this.onState) this.live.removeEventListener("state", this.onState);
    if (this.onVisible) document.removeEventListener("visibilitychange", this.onVisible);
  }

  /** Give back a watchBalance(): the last holder's release ends the subscription. */
  release() {
    this.refs -= 1;
    if (this.refs > 0 || this.live.watches.get(this.key) !== this) return;
    this.live.watches.delete(this.key);
    this.stop();
  }
}

/**
 * The tab's shared watch of one customer's balance (null id: the viewer's own customer). Each caller
 * calls `release()` when done: a socket runs a bounded number of subscriptions.
 */
export function watchBalance(live, client, customerId = null) {
  const key = customerId || "own";
  let watch = live.watches.get(key);
  if (!watch) {
    watch = new BalanceWatch(live, client, customerId);
    watch.key = key;
    watch.refs = 0;
    live.watches.set(key, watch);
  }
  watch.refs += 1;
  return watch;
}

/** Redraw `draw` after the watch's changes, at most once per 300 ms (a burst of charges is one read). */
export function onChanges(watch, draw) {
  let timer = null;
  const onChange = () => {
    timer ??= setTimeout(() => {
      timer = null;
      draw();
    }, 300);
  };
  watch.addEventListener("change", onChange);
  return () => {
    clearTimeout(timer);
    watch.removeEventListener("change", onChange);
  };
}

// The bell's panel of <credit-balance>: the notifications with their times and links, Mark read and
// Mark all read. credit-balance.js loads it the first time the bell is opened; its styles go into
// the element's shadow root, loaded before the panel shows.
import "./relative-time-define.js";
import { h } from "./dom.js";
import { formatCredits } from "./money.js";

const MARK = `mutation Mark($ids: [ID!]) { markNotificationsRead(ids: $ids) { count userErrors { code message } } }`;

/** A notification's text from its kind and amounts, in the console's money format; else the server's. */
export function notificationText(note) {
  const whose = note.customer?.name ? `The credit balance of ${note.customer.name}` : "The credit balance";
  if (note.kind === "BELOW_ZERO") return `${whose} fell below zero: ${formatCredits(note.balance)}.`;
  if (note.kind === "BELOW_THRESHOLD" && note.threshold != null) {
    return `${whose} fell below ${formatCredits(note.threshold)}: ${formatCredits(note.balance)}.`;
  }
  if (note.kind === "AUTO_TOP_UP_LIMIT_REACHED") {
    const of = note.customer?.name ? ` of ${note.customer.name}` : "";
    return `Auto top-up${of} reached its daily limit and did not top up: the balance is ${formatCredits(note.balance)}.`;
  }
  return note.message;
}

/** The panel of `host` (a CreditBalanceElement: its client, notifications, unread count), once styled. */
export async function notificationPanel(host) {
  const styles = h("link", { rel: "stylesheet", href: new URL("./credit-balance-panel.css", import.meta.url).href });
  await new Promise((resolve) => {
    styles.addEventListener("load", resolve);
    styles.addEventListener("error", resolve);
    host.shadowRoot.append(styles);
  });
  return new NotificationPanel(host);
}

class NotificationPanel {
  constructor(host) {
    this.host = host;
    this.list = h("ul", { class: "list" });
    this.element = h(
      "div",
      { class: "panel", hidden: true, role: "region", "aria-label": "Notifications" },
      h("div", { class: "panel-head" }, h("strong", {}, "Notifications"), h("button", { type: "button", class: "link", onclick: () => this.markRead(null) }, "Mark all read")),
      this.list,
    );
  }

  /** Draw the host's notifications, newest first. */
  render() {
    const host = this.host;
    this.list.replaceChildren();
    if (!host.notifications.length) {
      this.list.append(h("li", { class: "empty" }, "No notifications. You are told here when the balance falls below zero or below the alert threshold."));
      return;
    }
    for (const note of host.notifications) {
      const link = host.notificationLink?.(note);
      const follow = () => {
        host.toggle(false);
        if (!note.read) this.markRead([note.id]);
      };
      const item = h(
        "li",
        { class: note.read ? "read" : "unread" },
        h(
          "div",
          { class: "body" },
          h("span", { class: "message" }, notificationText(note)),
          h("span", { class: "meta" }, h("relative-time", { datetime: note.createdAt }), link ? h("a", { href: link.href, onclick: follow }, link.label) : null),
        ),
        note.read ? null : h("button", { type: "button", class: "link", onclick: () => this.markRead([note.id]) }, "Mark read"),
      );
      this.list.append(item);
    }
  }

  /** Mark `ids` read (null: all of them) on the server, then here. */
  async markRead(ids) {
    const host = this.host;
    try {
      await host.client.request(MARK, { ids });
    } catch {
      return;
    }
    for (const note of host.notifications) if (!ids || ids.includes(note.id)) note.read = true;
    host.unread = ids ? Math.max(0, host.unread - ids.length) : 0;
    this.render();
    host.render();
  }
}

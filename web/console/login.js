// The login screen, loaded only when someone has to log in (app.js): email and password start the
// console's cookie session (session.js).
import { h, replace, field } from "./dom.js";
import { stylesheet } from "./stylesheet.js";
import { bindMutation } from "./forms.js";
import { logIn } from "./session.js";

await stylesheet("login.css");

/** The login form in `main`, with `notice` above it if any; `loggedIn()` runs once the session has started. */
export function loginScreen(main, { notice, loggedIn }) {
  document.title = "Log in · Credits";
  const email = field("Email", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "stack", novalidate: true }, email.wrap, password.wrap, h("button", { type: "submit", class: "button primary wide" }, "Log in"));
  bindMutation(form, {
    fields: { email, password },
    run: () => logIn(email.input.value.trim(), password.input.value),
    done: loggedIn,
  });
  replace(
    main,
    h(
      "section",
      { class: "login card" },
      h("div", { class: "login-brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "C"), h("span", {}, "Credits")),
      h("h1", {}, "Log in to the console"),
      notice ? h("p", { class: "notice", role: "alert" }, notice) : null,
      form,
      h("p", { class: "muted small" }, "Integrators: the GraphQL API is at ", h("a", { href: "/graphql" }, "/graphql"), "."),
    ),
  );
  email.input.focus();
}

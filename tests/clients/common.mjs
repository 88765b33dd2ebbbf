// What every client script shares: its settings from the environment, one JSON result on stdout.
//
// The Python side (test_clients.py) sets CREDITS_URL (the server's http base URL) and the
// script's own variables, then reads the last line of stdout.

/** A required environment variable. */
export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

export const httpUrl = () => `${env("CREDITS_URL")}/graphql`;
export const wsUrl = () => httpUrl().replace(/^http/, "ws");
export const bearer = (token) => ({ Authorization: `Bearer ${token}` });

/** Print the result as one JSON line and end the process (clients may keep sockets open). */
export function done(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** A failure the test shows as it is: one JSON line with `error`, exit code 1. */
export function fail(error) {
  process.stdout.write(`${JSON.stringify({ error: String(error?.stack ?? error) })}\n`);
  process.exit(1);
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

/** Resolve the first time `predicate(value)` holds for a value passed to the returned `push`. */
export function waitFor(predicate) {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  const push = (value) => predicate(value) && resolve(value);
  return { promise, push };
}

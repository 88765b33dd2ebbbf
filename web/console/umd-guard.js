// Evaluated just before graphql-ws's UMD script (see live.js): a host page's AMD or CommonJS globals
// would take the library, so they are hidden from it; takeBack() leaves the page's globals as they were.
const saved = ["define", "exports", "module", "graphqlWs"].map((k) => [k, k in globalThis, globalThis[k]]);
for (const [k, had] of saved) if (had) try { globalThis[k] = undefined; } catch {}

/** The global the UMD script defined; the page's own put back. */
export function takeBack(name) {
  const library = globalThis[name];
  for (const [k, had, value] of saved) try { had ? (globalThis[k] = value) : delete globalThis[k]; } catch {}
  return library;
}

// Registers <relative-time>; a second registration (the module loaded twice) is tolerated.
import { RelativeTimeElement } from "./relative-time.js";

if (!customElements.get("relative-time")) customElements.define("relative-time", RelativeTimeElement);

export { RelativeTimeElement };

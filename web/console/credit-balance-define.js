// Registers <credit-balance>; a second registration (the module loaded twice) is tolerated.
import { CreditBalanceElement } from "./credit-balance.js";

if (!customElements.get("credit-balance")) customElements.define("credit-balance", CreditBalanceElement);

export { CreditBalanceElement };

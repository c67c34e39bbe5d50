import type { Rule } from "../core/rules";
import { loginAlert } from "./login-alert";
import { orderShipped } from "./order-shipped";
import { paymentFailed } from "./payment-failed";
import { testNotification } from "./test-notification";
import { welcome } from "./welcome";

/** Every rule herald evaluates. Adding a rule is one module plus one line here. */
export const rules: readonly Rule[] = [orderShipped, paymentFailed, welcome, loginAlert, testNotification];

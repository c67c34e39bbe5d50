import { defineRule } from "../core/rules";
import { paymentFailedTemplates } from "../templates/payment-failed";

export const paymentFailed = defineRule({
  name: "payment-failed",
  description: "Ask the customer to update their payment method after a failed charge.",
  eventType: "payment.failed",
  versions: [1],
  category: "billing",
  // A processing error on our side is not the customer's to fix.
  when: { path: "/reason", notEquals: "processing_error" },
  recipients: { directory: "/customerId" },
  channels: { email: {}, sms: { maxSegments: 2 } },
  templates: paymentFailedTemplates,
});

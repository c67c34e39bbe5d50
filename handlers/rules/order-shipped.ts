import { defineRule } from "../core/rules";
import { orderShippedTemplates } from "../templates/order-shipped";

export const orderShipped = defineRule({
  name: "order-shipped",
  description: "Tell the customer their order left the warehouse, with tracking.",
  eventType: "order.shipped",
  versions: [1, 2],
  category: "orders",
  recipients: { directory: "/customerId" },
  channels: { email: {}, push: { ttlSeconds: 86_400, topic: "order-updates" }, sms: { maxSegments: 2 } },
  templates: orderShippedTemplates,
});

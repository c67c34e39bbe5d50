import { defineRule } from "../core/rules";
import { testNotificationTemplates } from "../templates/test-notification";

export const testNotification = defineRule({
  name: "test-notification",
  description: "Built in: send the message to every contact point in the event, to test channel setup.",
  eventType: "herald.test_notification",
  versions: [1],
  category: "test",
  // A test must arrive whenever it is sent, so it ignores quiet hours and caps.
  critical: true,
  recipients: { inline: { email: "/contacts/email", phone: "/contacts/phone", push: "/contacts/pushSubscription" } },
  channels: { email: {}, push: {}, sms: { maxSegments: 4 } },
  templates: testNotificationTemplates,
});

import type { RuleTemplates } from "../core/templates";

/** herald.test_notification → every contact point in the event. */
export const testNotificationTemplates: RuleTemplates = {
  defaultLocale: "en",
  locales: {
    en: {
      email: {
        subject: "{% if data.title %}{{ data.title }}{% else %}herald test notification{% endif %}",
        html: "<p>{{ data.message }}</p><p style=\"font-size:12px\">Sent by herald (event {{ event.id }}).</p>",
        text: "{{ data.message }}\n\nSent by herald (event {{ event.id }}).",
      },
      push: {
        title: "{% if data.title %}{{ data.title }}{% else %}herald test notification{% endif %}",
        body: "{{ data.message }}",
      },
      sms: {
        body: "{{ data.message }}",
      },
    },
  },
};

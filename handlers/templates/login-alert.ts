import type { RuleTemplates } from "../core/templates";

/** security.login_alert → the account owner, on every channel they have. */
export const loginAlertTemplates: RuleTemplates = {
  defaultLocale: "en",
  locales: {
    en: {
      email: {
        subject: "New sign-in to your account ({{ data.riskLevel }} risk)",
        html: `<p>Hi{% if recipient.name %} {{ recipient.name }}{% endif %},</p>
<p>Someone signed in to your account on {{ data.loginAt | date: "%Y-%m-%d %H:%M UTC" }} from {{ data.device }} (IP {{ data.ipAddress }}{% if data.location %}, {% if data.location.city %}{{ data.location.city }}, {% endif %}{{ data.location.country }}{% endif %}).</p>
<p>If this was not you, <a href="{{ data.reviewUrl }}">secure your account now</a>.</p>`,
        text: `Hi{% if recipient.name %} {{ recipient.name }}{% endif %},

Someone signed in to your account on {{ data.loginAt | date: "%Y-%m-%d %H:%M UTC" }} from {{ data.device }} (IP {{ data.ipAddress }}{% if data.location %}, {% if data.location.city %}{{ data.location.city }}, {% endif %}{{ data.location.country }}{% endif %}).

If this was not you, secure your account now: {{ data.reviewUrl }}`,
      },
      push: {
        title: "New sign-in to your account",
        body: "{{ data.device }} from IP {{ data.ipAddress }}. Not you? Tap to review.",
        url: "{{ data.reviewUrl }}",
      },
      sms: {
        body: "New sign-in: {{ data.device }}, IP {{ data.ipAddress }}. Not you? {{ data.reviewUrl }}",
      },
    },
  },
};

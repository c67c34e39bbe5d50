import { defineRule } from "../core/rules";
import { loginAlertTemplates } from "../templates/login-alert";

export const loginAlert = defineRule({
  name: "login-alert",
  description: "Warn the account owner of a risky sign-in. Critical: ignores opt-outs, quiet hours and caps.",
  eventType: "security.login_alert",
  versions: [1],
  category: "security",
  critical: true,
  when: { path: "/riskLevel", in: ["medium", "high"] },
  recipients: { directory: "/userId" },
  channels: { email: {}, push: { urgency: "high", ttlSeconds: 3_600 }, sms: { maxSegments: 2 } },
  templates: loginAlertTemplates,
});

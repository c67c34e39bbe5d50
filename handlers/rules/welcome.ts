import { defineRule } from "../core/rules";
import { welcomeTemplates } from "../templates/welcome";

export const welcome = defineRule({
  name: "welcome",
  description: "Welcome a new user at the address they signed up with.",
  eventType: "user.signed_up",
  versions: [1],
  category: "account",
  recipients: { inline: { id: "/userId", name: "/name", email: "/email", locale: "/locale", timeZone: "/timeZone" } },
  channels: { email: {} },
  templates: welcomeTemplates,
});

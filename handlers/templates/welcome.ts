import type { RuleTemplates } from "../core/templates";

/** user.signed_up → the new user, at the address they signed up with. */
export const welcomeTemplates: RuleTemplates = {
  defaultLocale: "en",
  locales: {
    en: {
      email: {
        subject: "Welcome, {{ data.name }}",
        html: `<p>Welcome, {{ data.name }}!</p>
<p>Your {{ data.plan | capitalize }} account is ready.</p>
{% if links.unsubscribe %}<p style="font-size:12px"><a href="{{ links.unsubscribe }}">Stop account e-mails</a></p>{% endif %}`,
        text: `Welcome, {{ data.name }}!

Your {{ data.plan | capitalize }} account is ready.
{% if links.unsubscribe %}
Stop account e-mails: {{ links.unsubscribe }}{% endif %}`,
      },
    },
    de: {
      email: {
        subject: "Willkommen, {{ data.name }}",
        html: `<p>Willkommen, {{ data.name }}!</p>
<p>Ihr {{ data.plan | capitalize }}-Konto ist bereit.</p>
{% if links.unsubscribe %}<p style="font-size:12px"><a href="{{ links.unsubscribe }}">Keine Konto-E-Mails mehr</a></p>{% endif %}`,
        text: `Willkommen, {{ data.name }}!

Ihr {{ data.plan | capitalize }}-Konto ist bereit.
{% if links.unsubscribe %}
Keine Konto-E-Mails mehr: {{ links.unsubscribe }}{% endif %}`,
      },
    },
  },
};

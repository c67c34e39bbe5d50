import type { RuleTemplates } from "../core/templates";

/** order.shipped → the customer, with tracking. Uses only fields present in v1 and v2. */
export const orderShippedTemplates: RuleTemplates = {
  defaultLocale: "en",
  locales: {
    en: {
      email: {
        subject: "Your order {{ data.orderId }} is on its way",
        html: `<p>Hi{% if recipient.name %} {{ recipient.name }}{% endif %},</p>
<p>Your order <strong>{{ data.orderId }}</strong> has shipped with {{ data.carrier | upcase }}.</p>
<ul>{% for item in data.items %}<li>{{ item.quantity }} × {{ item.name }}</li>{% endfor %}</ul>
<p>Tracking number: {{ data.trackingNumber }}{% if data.trackingUrl %} (<a href="{{ data.trackingUrl }}">track your parcel</a>){% endif %}</p>
{% if links.unsubscribe %}<p style="font-size:12px"><a href="{{ links.unsubscribe }}">Stop order updates by e-mail</a></p>{% endif %}`,
        text: `Hi{% if recipient.name %} {{ recipient.name }}{% endif %},

Your order {{ data.orderId }} has shipped with {{ data.carrier | upcase }}.
{% for item in data.items %}- {{ item.quantity }} x {{ item.name }}
{% endfor %}
Tracking number: {{ data.trackingNumber }}{% if data.trackingUrl %}
Track it: {{ data.trackingUrl }}{% endif %}
{% if links.unsubscribe %}
Stop order updates by e-mail: {{ links.unsubscribe }}{% endif %}`,
      },
      push: {
        title: "Order {{ data.orderId }} shipped",
        body: "On its way with {{ data.carrier | upcase }}. Tracking: {{ data.trackingNumber }}",
        url: "{% if data.trackingUrl %}{{ data.trackingUrl }}{% endif %}",
      },
      sms: {
        body: "Your order {{ data.orderId }} has shipped ({{ data.carrier | upcase }} {{ data.trackingNumber }}).",
      },
    },
    de: {
      email: {
        subject: "Ihre Bestellung {{ data.orderId }} ist unterwegs",
        html: `<p>Hallo{% if recipient.name %} {{ recipient.name }}{% endif %},</p>
<p>Ihre Bestellung <strong>{{ data.orderId }}</strong> wurde mit {{ data.carrier | upcase }} versandt.</p>
<ul>{% for item in data.items %}<li>{{ item.quantity }} × {{ item.name }}</li>{% endfor %}</ul>
<p>Sendungsnummer: {{ data.trackingNumber }}{% if data.trackingUrl %} (<a href="{{ data.trackingUrl }}">Sendung verfolgen</a>){% endif %}</p>
{% if links.unsubscribe %}<p style="font-size:12px"><a href="{{ links.unsubscribe }}">Keine Bestell-E-Mails mehr</a></p>{% endif %}`,
        text: `Hallo{% if recipient.name %} {{ recipient.name }}{% endif %},

Ihre Bestellung {{ data.orderId }} wurde mit {{ data.carrier | upcase }} versandt.
{% for item in data.items %}- {{ item.quantity }} x {{ item.name }}
{% endfor %}
Sendungsnummer: {{ data.trackingNumber }}{% if data.trackingUrl %}
Verfolgen: {{ data.trackingUrl }}{% endif %}
{% if links.unsubscribe %}
Keine Bestell-E-Mails mehr: {{ links.unsubscribe }}{% endif %}`,
      },
      push: {
        title: "Bestellung {{ data.orderId }} versandt",
        body: "Unterwegs mit {{ data.carrier | upcase }}. Sendungsnummer: {{ data.trackingNumber }}",
        url: "{% if data.trackingUrl %}{{ data.trackingUrl }}{% endif %}",
      },
      sms: {
        body: "Ihre Bestellung {{ data.orderId }} ist unterwegs ({{ data.carrier | upcase }} {{ data.trackingNumber }}).",
      },
    },
  },
};

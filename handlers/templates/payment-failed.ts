import type { RuleTemplates } from "../core/templates";

/** payment.failed → the customer: what failed and where to fix it. */
export const paymentFailedTemplates: RuleTemplates = {
  defaultLocale: "en",
  locales: {
    en: {
      email: {
        subject: "Action needed: your payment of {{ data.amount.value | divided_by: 100.0 }} {{ data.amount.currency }} did not go through",
        html: `<p>Hi{% if recipient.name %} {{ recipient.name }}{% endif %},</p>
<p>We could not take your payment of <strong>{{ data.amount.value | divided_by: 100.0 }} {{ data.amount.currency }}</strong>{% if data.orderId %} for order {{ data.orderId }}{% endif %}.</p>
<p>Reason: {{ data.reason | replace: "_", " " }}.{% if data.nextRetryAt %} We will try again on {{ data.nextRetryAt | date: "%Y-%m-%d" }}.{% endif %}</p>
<p><a href="{{ data.updatePaymentUrl }}">Update your payment method</a></p>
{% if links.unsubscribe %}<p style="font-size:12px"><a href="{{ links.unsubscribe }}">Stop billing e-mails</a></p>{% endif %}`,
        text: `Hi{% if recipient.name %} {{ recipient.name }}{% endif %},

We could not take your payment of {{ data.amount.value | divided_by: 100.0 }} {{ data.amount.currency }}{% if data.orderId %} for order {{ data.orderId }}{% endif %}.
Reason: {{ data.reason | replace: "_", " " }}.{% if data.nextRetryAt %} We will try again on {{ data.nextRetryAt | date: "%Y-%m-%d" }}.{% endif %}

Update your payment method: {{ data.updatePaymentUrl }}
{% if links.unsubscribe %}
Stop billing e-mails: {{ links.unsubscribe }}{% endif %}`,
      },
      sms: {
        body: "Your payment of {{ data.amount.value | divided_by: 100.0 }} {{ data.amount.currency }} failed. Update your card: {{ data.updatePaymentUrl }}",
      },
    },
  },
};

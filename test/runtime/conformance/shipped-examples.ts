/**
 * The scenario every target (local, AWS, GCP, Azure) must pass the same way: every
 * shipped example published once, against the same recipients, gives the same
 * deliveries at the sinks. Each target's end-to-end test drives its own cloud's path
 * (raw delivery, pushes, triggers) and checks the result with these.
 */
import { expect } from "vitest";
import type { PushSubscriptionJson, RecipientDirectory } from "../../../handlers/core/recipients";
import type { EmailSinkContent, PushSinkContent, SinkDelivery } from "../../../handlers/runtime/local/sinks/types";

/** order v1 (ada: 3), order v2 (grace: email), payment (ada: email+sms), welcome (email), login alert (ada: 3), test notification (email+sms). */
export const EXAMPLE_DELIVERIES = { email: 6, push: 2, sms: 4 } as const;

/** The recipients the shipped examples name, Ada with a push subscription on the target's push service. */
export async function seedExampleRecipients(directory: Pick<RecipientDirectory, "put">, push: PushSubscriptionJson): Promise<void> {
  await directory.put({ id: "cus_ada", name: "Ada", contacts: { email: "ada@example.com", phone: "+14155550123", push: [push] }, locale: "en", timeZone: "Europe/Lisbon" });
  await directory.put({ id: "cus_grace", name: "Grace", contacts: { email: "grace@example.com" }, locale: "de-AT", timeZone: "Europe/Vienna" });
}

/** What the sinks must have received from the shipped examples; `unsubscribeBaseUrl` when the target signs links. */
export function expectExampleDeliveries(all: readonly SinkDelivery[], unsubscribeBaseUrl?: string): void {
  const count = (channel: string) => all.filter((d) => d.channel === channel).length;
  expect({ email: count("email"), push: count("push"), sms: count("sms") }).toEqual(EXAMPLE_DELIVERIES);
  const mails = all.filter((d) => d.channel === "email").map((d) => d.content as EmailSinkContent);
  const orderMail = mails.find((mail) => mail.subject === "Your order ORD-10293 is on its way")!;
  expect(orderMail.envelope.to).toEqual(["ada@example.com"]);
  expect(orderMail.html).toContain("<li>2 × Black mug</li>");
  if (unsubscribeBaseUrl) expect(orderMail.headers["list-unsubscribe"]).toContain(`${unsubscribeBaseUrl}?r=cus_ada&c=orders&ch=email&s=`);
  expect(mails.find((mail) => mail.subject === "Ihre Bestellung ORD-10377 ist unterwegs")?.envelope.to).toEqual(["grace@example.com"]);
  const pushes = all.filter((d) => d.channel === "push").map((d) => d.content as PushSinkContent);
  expect(pushes.map((p) => (p.payload as { title: string }).title).sort()).toEqual(["New sign-in to your account", "Order ORD-10293 shipped"]);
  expect(all.filter((d) => d.channel === "sms").map((d) => d.address)).toEqual(["+14155550123", "+14155550123", "+14155550123", "+14155550123"]);
}

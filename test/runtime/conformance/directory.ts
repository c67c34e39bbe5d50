/**
 * The behaviour every `RecipientDirectory` must have, as `InMemoryDirectory` defines it.
 * The factory must give an empty directory per test (listing sees everything in it).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushSubscriptionJson, Recipient, RecipientDirectory } from "../../../handlers/core/recipients";
import type { StoreFactory, StoreFixture } from "./fixture";

function subscription(endpoint: string): PushSubscriptionJson {
  return { endpoint, expirationTime: null, keys: { p256dh: `p256dh-${endpoint.length}`, auth: "auth" } };
}

const grace: Recipient = {
  id: "cus_grace",
  name: "Grace Hopper",
  contacts: {
    email: "Grace@Example.com",
    phone: "+14155550100",
    push: [subscription("https://push.example/a"), subscription("https://push.example/shared")],
    slack: { channel: "C123" },
  },
  locale: "en-GB",
  timeZone: "Europe/London",
  optOuts: [{ category: "marketing", channel: "*" }],
  quietHours: { start: "22:00", end: "07:00" },
};

const ada: Recipient = { id: "cus_ada", contacts: { email: "ada@example.com", push: [subscription("https://push.example/shared")] } };
const linus: Recipient = { id: "cus_linus", contacts: { phone: "+358401234567" } };

export function describeDirectoryConformance(name: string, factory: StoreFactory<RecipientDirectory>): void {
  describe(`RecipientDirectory conformance: ${name}`, () => {
    let fixture: StoreFixture<RecipientDirectory>;
    let directory: RecipientDirectory;

    beforeEach(async () => {
      fixture = await factory();
      directory = fixture.store;
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    it("stores and returns a recipient whole, and replaces it on put", async () => {
      expect(await directory.get(grace.id)).toBeUndefined();
      await directory.put(grace);
      expect(await directory.get(grace.id)).toEqual(grace);
      const moved: Recipient = { ...grace, contacts: { email: "grace@navy.example" }, locale: "en-US" };
      await directory.put(moved);
      expect(await directory.get(grace.id)).toEqual(moved);
    });

    it("deletes, saying whether there was anything to delete", async () => {
      await directory.put(linus);
      expect(await directory.delete(linus.id)).toBe(true);
      expect(await directory.get(linus.id)).toBeUndefined();
      expect(await directory.delete(linus.id)).toBe(false);
    });

    it("lists in id order and pages with limit and after", async () => {
      const ids = ["u05", "u01", "u10", "u03", "u07", "u02", "u09", "u04", "u08", "u06"];
      for (const id of ids) await directory.put({ id, contacts: { email: `${id}@example.com` } });
      const sorted = [...ids].sort();
      expect((await directory.list()).map((r) => r.id)).toEqual(sorted);
      expect((await directory.list({ limit: 3 })).map((r) => r.id)).toEqual(sorted.slice(0, 3));
      expect((await directory.list({ after: "u04" })).map((r) => r.id)).toEqual(sorted.slice(4));
      const paged: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await directory.list({ limit: 4, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(4);
        paged.push(...page.map((r) => r.id));
        after = page[page.length - 1]!.id;
      }
      expect(paged).toEqual(sorted);
      expect(await directory.list({ after: "u10" })).toEqual([]);
    });

    it("suppresses e-mail addresses case-insensitively, keeping the address as given", async () => {
      const suppression = { channel: "email", address: "Grace@Example.COM", reason: "hard-bounce" as const, at: "2026-11-20T12:00:00.000Z" };
      await directory.suppress(suppression);
      expect(await directory.suppression("email", "grace@example.com")).toEqual(suppression);
      expect(await directory.suppression("email", "GRACE@EXAMPLE.COM")).toEqual(suppression);
      expect(await directory.suppression("email", "other@example.com")).toBeUndefined();
      // The same address on another channel is not suppressed.
      expect(await directory.suppression("sms", "Grace@Example.COM")).toBeUndefined();
    });

    it("compares other channels' addresses exactly", async () => {
      const endpoint = "https://push.example/Endpoint";
      await directory.suppress({ channel: "push", address: endpoint, reason: "subscription-gone", at: "t" });
      expect(await directory.suppression("push", endpoint)).toEqual({ channel: "push", address: endpoint, reason: "subscription-gone", at: "t" });
      expect(await directory.suppression("push", endpoint.toLowerCase())).toBeUndefined();
    });

    it("replaces a suppression of the same address", async () => {
      await directory.suppress({ channel: "sms", address: "+14155550100", reason: "invalid-address", at: "t1" });
      await directory.suppress({ channel: "sms", address: "+14155550100", reason: "opt-out", at: "t2" });
      expect(await directory.suppression("sms", "+14155550100")).toEqual({ channel: "sms", address: "+14155550100", reason: "opt-out", at: "t2" });
    });

    it("removes a gone push subscription from every recipient holding it, and only that one", async () => {
      await directory.put(grace);
      await directory.put(ada);
      await directory.put(linus);
      await directory.removePushSubscription("https://push.example/shared");
      expect(await directory.get(grace.id)).toEqual({ ...grace, contacts: { ...grace.contacts, push: [subscription("https://push.example/a")] } });
      expect(await directory.get(ada.id)).toEqual({ ...ada, contacts: { ...ada.contacts, push: [] } });
      expect(await directory.get(linus.id)).toEqual(linus);
      await directory.removePushSubscription("https://push.example/never-seen");
      expect(await directory.get(linus.id)).toEqual(linus);
    });

    it("finds a subscription added back after a removal, and none of a deleted recipient", async () => {
      await directory.put(ada);
      await directory.removePushSubscription("https://push.example/shared");
      await directory.put(ada);
      await directory.removePushSubscription("https://push.example/shared");
      expect((await directory.get(ada.id))?.contacts.push).toEqual([]);
      await directory.put(ada);
      await directory.delete(ada.id);
      await directory.removePushSubscription("https://push.example/shared");
      expect(await directory.get(ada.id)).toBeUndefined();
    });
  });
}

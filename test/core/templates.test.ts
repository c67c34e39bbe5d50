import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Liquid } from "liquidjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeraldError } from "../../handlers/core/errors";
import type { TemplatePart } from "../../handlers/core/ports";
import {
  TEMPLATE_LIMITS,
  TemplateError,
  compileRuleTemplates,
  renderTemplates,
  templateVariablePaths,
  type RuleTemplates,
  type TemplateContext,
} from "../../handlers/core/templates";
import { orderShippedTemplates } from "../../handlers/templates/order-shipped";

// The shapes the channel modules declare; fixed here so these tests do not move with them.
const PARTS: Readonly<Record<string, readonly TemplatePart[]>> = {
  email: [
    { name: "subject", format: "text" },
    { name: "html", format: "html" },
    { name: "text", format: "text" },
  ],
  push: [
    { name: "title", format: "text" },
    { name: "body", format: "text" },
    { name: "url", format: "text", optional: true },
  ],
  sms: [{ name: "body", format: "text" }],
};
const SMS_ONLY = { sms: PARTS["sms"]! };
const EMAIL_ONLY = { email: PARTS["email"]! };

function context(data: Record<string, unknown>, overrides: Partial<TemplateContext> = {}): TemplateContext {
  return {
    event: { id: "evt-1", source: "urn:shop", type: "order.shipped" },
    data,
    recipient: { id: "cust-1", locale: "en" },
    links: {},
    ...overrides,
  };
}

/** One rule with one sms body in the default locale. */
function smsRule(body: string): RuleTemplates {
  return { defaultLocale: "en", locales: { en: { sms: { body } } } };
}

function renderSms(body: string, data: Record<string, unknown>, overrides?: Partial<TemplateContext>): string {
  return renderTemplates(compileRuleTemplates("r", smsRule(body), SMS_ONLY), "sms", undefined, context(data, overrides)).parts["body"]!;
}

function emailRule(html: string, text = "t", subject = "s"): RuleTemplates {
  return { defaultLocale: "en", locales: { en: { email: { subject, html, text } } } };
}

function renderEmail(html: string, text: string, data: Record<string, unknown>, subject = "s"): Record<string, string> {
  return renderTemplates(compileRuleTemplates("r", emailRule(html, text, subject), EMAIL_ONLY), "email", "en", context(data)).parts;
}

/** Runs `fn`, expects a TemplateError, returns it. */
function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateError);
    expect(error).toBeInstanceOf(HeraldError);
    return error as TemplateError;
  }
  throw new Error("expected a TemplateError, nothing was thrown");
}

describe("escaping", () => {
  const hostile = `<b>"Tom" & 'Jerry'</b>`;

  it("escapes every output in html parts and nothing in text parts (subject included)", () => {
    const parts = renderEmail("<p>{{ data.name }}</p>", "Hi {{ data.name }}", { name: hostile }, "{{ data.name }}");
    expect(parts).toEqual({
      subject: hostile,
      html: "<p>&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;</p>",
      text: `Hi ${hostile}`,
    });
  });

  it("escapes values that come through loops, assigns and filters", () => {
    const parts = renderEmail(
      `{% for i in data.items %}<li>{{ i.name | upcase }}</li>{% endfor %}{% assign n = data.items.first.name %}{{ n }}`,
      "t",
      { items: [{ name: "<i>a</i>" }, { name: "b&c" }] },
    );
    expect(parts["html"]).toBe("<li>&lt;I&gt;A&lt;/I&gt;</li><li>B&amp;C</li>&lt;i&gt;a&lt;/i&gt;");
  });

  it("leaves `| raw` as the only way out in html parts", () => {
    expect(renderEmail("{{ data.name | raw }}", "t", { name: "<b>x</b>" })["html"]).toBe("<b>x</b>");
    // raw must be the last filter: anything after it is escaped again.
    expect(renderEmail("{{ data.name | raw | upcase }}", "t", { name: "<b>x</b>" })["html"]).toBe("&lt;B&gt;X&lt;/B&gt;");
  });

  it("keeps the template's own markup as written", () => {
    expect(renderEmail(`<a href="{{ data.url }}">go</a>`, "t", { url: `https://x.test/?a=1&b="2"` })["html"]).toBe(
      `<a href="https://x.test/?a=1&amp;b=&#34;2&#34;">go</a>`,
    );
  });
});

describe("event data is never parsed", () => {
  const payloads = {
    script: "<script>alert(1)</script>",
    expression: "{{ 7*7 }}",
    raw: "{% raw %}{{ data.secret }}{% endraw %}",
    proto: "{{ data.constructor }}",
    include: `{% include "/etc/passwd" %}`,
    secretRef: "{{ data.secret }}",
  };
  const data = { ...payloads, secret: "TOPSECRET" };

  it("renders Liquid syntax and markup in data as literal text in text parts", () => {
    for (const [key, value] of Object.entries(payloads)) {
      expect(renderSms(`[{{ data.${key} }}]`, data)).toBe(`[${value}]`);
    }
  });

  it("renders it HTML-escaped, still unevaluated, in html parts", () => {
    const html = Object.keys(payloads)
      .map((key) => `{{ data.${key} }}`)
      .join("|");
    expect(renderEmail(html, "t", data)["html"]).toBe(
      [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "{{ 7*7 }}",
        "{% raw %}{{ data.secret }}{% endraw %}",
        "{{ data.constructor }}",
        "{% include &#34;/etc/passwd&#34; %}",
        "{{ data.secret }}",
      ].join("|"),
    );
  });

  it("does not let a template reach prototypes of the data (ownPropertyOnly)", () => {
    for (const expression of ["data.constructor", "data.items.constructor", "data.name.constructor", "data.toString", "data.__proto__"]) {
      const error = templateError(() => renderSms(`{{ ${expression} }}`, { items: [1], name: "n" }));
      expect(error.code).toBe("template-undefined-variable");
      expect(error.location.variable).toBe(expression);
    }
  });

  it("still reads an own property that happens to share a prototype name", () => {
    expect(renderSms("{{ data.constructor }}", { constructor: "own" })).toBe("own");
  });
});

describe("strict variables", () => {
  it("throws template-undefined-variable naming the variable, rule, locale, channel, part and line", () => {
    const compiled = compileRuleTemplates(
      "order-shipped",
      { defaultLocale: "en", locales: { en: { email: { subject: "s", html: "<p>\n{{ data.orderId }}\n  {{ data.trackingUrl }}</p>", text: "t" } } } },
      EMAIL_ONLY,
    );
    const error = templateError(() => renderTemplates(compiled, "email", "en", context({ orderId: "A-1" })));
    expect(error.code).toBe("template-undefined-variable");
    expect(error.location).toEqual({ rule: "order-shipped", locale: "en", channel: "email", part: "html", line: 3, column: 6, variable: "data.trackingUrl" });
    expect(error.message).toBe('rule "order-shipped", locale "en", channel "email", part "html", line 3, column 6: undefined variable data.trackingUrl');
  });

  it("names the first missing step of a deeper path", () => {
    const error = templateError(() => renderSms("{{ data.amount.currency }}", {}));
    expect(error.location.variable).toBe("data.amount");
  });

  it("lets `if`, `unless`, `case` and a leading `default` read what is not there", () => {
    const body =
      "{% if data.missing %}yes{% else %}no{% endif %}|{% if data.missing.deeper %}y{% endif %}|" +
      "{% unless data.missing %}u{% endunless %}|{% case data.missing %}{% when 1 %}one{% else %}other{% endcase %}|" +
      '{{ data.missing | default: "fallback" }}|{% if data.present %}{{ data.present }}{% endif %}';
    expect(renderSms(body, { present: "P" })).toBe("no||u|other|fallback|P");
  });

  it("does not extend that leniency to a `default` that is not the first filter", () => {
    expect(templateError(() => renderSms('{{ data.missing | upcase | default: "x" }}', {})).code).toBe("template-undefined-variable");
  });

  it("treats a recipient without a name and a message without an unsubscribe link as absent", () => {
    const body = "Hi{% if recipient.name %} {{ recipient.name }}{% endif %}{% if links.unsubscribe %} {{ links.unsubscribe }}{% endif %}";
    expect(renderSms(body, {})).toBe("Hi");
    expect(renderSms(body, {}, { recipient: { id: "r", name: "Ann", locale: "en" }, links: { unsubscribe: "https://u.test/x" } })).toBe(
      "Hi Ann https://u.test/x",
    );
  });
});

describe("locale fallback", () => {
  const rule: RuleTemplates = {
    defaultLocale: "en",
    locales: {
      en: { sms: { body: "en" }, email: { subject: "en", html: "en", text: "en" } },
      "en-GB": { sms: { body: "en-GB" } },
      de: { sms: { body: "de" }, email: { subject: "de", html: "de", text: "de" } },
      "de-AT": { sms: { body: "de-AT" } },
      "zh-Hant": { sms: { body: "zh-Hant" } },
    },
  };
  const compiled = compileRuleTemplates("r", rule, { sms: PARTS["sms"]!, email: PARTS["email"]! });
  const pick = (channel: string, locale: string | undefined) => {
    const out = renderTemplates(compiled, channel, locale, context({}));
    return [out.locale, channel === "sms" ? out.parts["body"] : out.parts["subject"]];
  };

  it.each([
    ["de-AT", "de-AT"],
    ["de-CH", "de"],
    ["de", "de"],
    ["de-AT-1996", "de-AT"],
    ["DE-at", "de-AT"],
    ["de_AT", "de-AT"],
    ["zh-Hant-TW", "zh-Hant"],
    ["en-GB", "en-GB"],
    ["en-US", "en"],
    ["fr-FR", "en"],
    ["fr", "en"],
    ["", "en"],
    [undefined, "en"],
  ])("sms for %s uses %s", (requested, expected) => {
    expect(pick("sms", requested)).toEqual([expected, expected]);
  });

  it("falls back per channel: a locale without this channel's templates yields to the next", () => {
    expect(pick("email", "de-AT")).toEqual(["de", "de"]);
    expect(pick("email", "en-GB")).toEqual(["en", "en"]);
    expect(pick("email", "zh-Hant")).toEqual(["en", "en"]);
  });

  it("refuses a channel the rule has no templates for", () => {
    const error = templateError(() => renderTemplates(compiled, "push", "en", context({})));
    expect(error.code).toBe("template-invalid");
    expect(error.location).toEqual({ rule: "r", channel: "push" });
  });
});

describe("compile-time checks", () => {
  const good = { subject: "s", html: "h", text: "t" };

  it("accepts a rule whose locales leave out an optional part", () => {
    const compiled = compileRuleTemplates("r", { defaultLocale: "en", locales: { en: { push: { title: "T", body: "B" } } } }, { push: PARTS["push"]! });
    expect(renderTemplates(compiled, "push", "en", context({})).parts).toEqual({ title: "T", body: "B" });
    expect(compiled).toMatchObject({ rule: "r", defaultLocale: "en", locales: ["en"], channels: ["push"] });
  });

  it("refuses a missing required part, naming rule, locale, channel and part", () => {
    const error = templateError(() =>
      compileRuleTemplates("welcome", { defaultLocale: "en", locales: { en: { email: good }, de: { email: { subject: "s", html: "h" } } } }, EMAIL_ONLY),
    );
    expect(error.code).toBe("template-missing-part");
    expect(error.location).toEqual({ rule: "welcome", locale: "de", channel: "email", part: "text" });
    expect(error.message).toBe('rule "welcome", locale "de", channel "email", part "text": missing required part "text"');
  });

  it("refuses an unknown part", () => {
    const error = templateError(() => compileRuleTemplates("welcome", { defaultLocale: "en", locales: { en: { email: { ...good, body: "b" } } } }, EMAIL_ONLY));
    expect(error.code).toBe("template-invalid");
    expect(error.location).toEqual({ rule: "welcome", locale: "en", channel: "email", part: "body" });
    expect(error.message).toContain('unknown part "body"');
  });

  it("refuses an unknown channel", () => {
    const error = templateError(() => compileRuleTemplates("welcome", { defaultLocale: "en", locales: { en: { email: good, fax: { body: "b" } } } }, EMAIL_ONLY));
    expect(error.code).toBe("template-invalid");
    expect(error.location).toEqual({ rule: "welcome", locale: "en", channel: "fax" });
  });

  it("refuses a default locale that lacks one of the rule's channels", () => {
    const error = templateError(() =>
      compileRuleTemplates("welcome", { defaultLocale: "en", locales: { en: { email: good }, de: { email: good, sms: { body: "b" } } } }, {
        ...EMAIL_ONLY,
        ...SMS_ONLY,
      }),
    );
    expect(error.code).toBe("template-missing-part");
    expect(error.location).toEqual({ rule: "welcome", locale: "en", channel: "sms", part: "body" });
    expect(error.message).toContain('the default locale "en" has no templates for channel "sms"');
  });

  it("refuses a default locale that is not among the locales", () => {
    const error = templateError(() => compileRuleTemplates("welcome", { defaultLocale: "fr", locales: { en: { email: good } } }, EMAIL_ONLY));
    expect(error.code).toBe("template-missing-part");
    expect(error.location).toEqual({ rule: "welcome", locale: "fr" });
  });

  it.each([
    ["unclosed tag", "Hello\n{% if data.x %}open", 2, 1, "tag {% if data.x %} not closed"],
    ["bad expression", "a\nb {% if %}", 2, 8, 'invalid value expression: ""'],
    ["unknown filter", "{{ data.x | no_such_filter }}", 1, 1, "undefined filter: no_such_filter"],
    ["unknown tag", "x {% frobnicate %}", 1, 3, 'tag "frobnicate" not found'],
    ["unclosed output", "x {{ data.x", 1, 3, 'output "{{ data.x" not closed'],
  ])("refuses a Liquid syntax error (%s) with its line", (_name, html, line, column, detail) => {
    const error = templateError(() => compileRuleTemplates("welcome", { defaultLocale: "en", locales: { en: { email: { ...good, html } } } }, EMAIL_ONLY));
    expect(error.code).toBe("template-invalid");
    expect(error.location).toEqual({ rule: "welcome", locale: "en", channel: "email", part: "html", line, column });
    expect(error.message).toBe(`rule "welcome", locale "en", channel "email", part "html", line ${line}, column ${column}: ${detail}`);
  });

  it("refuses variables outside the template context", () => {
    for (const [source, variable] of [
      ["{{ recipient.email }}", "recipient.email"],
      ["{{ event.data.x }}", "event.data.x"],
      ["{% if links.preferences %}x{% endif %}", "links.preferences"],
      ["{{ order.id }}", "order.id"],
      ["{{ forloop.index }}", "forloop.index"],
    ] as const) {
      const error = templateError(() => compileRuleTemplates("r", smsRule(source), SMS_ONLY));
      expect(error.code).toBe("template-invalid");
      expect(error.location).toMatchObject({ part: "body", line: 1, variable });
    }
  });

  it("accepts every context field the interface declares", () => {
    const body = "{{ event.id }} {{ event.source }} {{ event.type }} {{ recipient.id }} {{ recipient.locale }}{% if event.time %}{{ event.time }}{% endif %}{% if event.subject %}{{ event.subject }}{% endif %}{% if recipient.name %}{{ recipient.name }}{% endif %}{% if links.unsubscribe %}{{ links.unsubscribe }}{% endif %}";
    expect(renderSms(body, {})).toBe("evt-1 urn:shop order.shipped cust-1 en");
  });

  it("refuses locale tags that are not BCP 47, and duplicates that differ only in case", () => {
    expect(templateError(() => compileRuleTemplates("r", { defaultLocale: "en", locales: { en: { sms: { body: "x" } }, "../de": { sms: { body: "x" } } } }, SMS_ONLY)).code).toBe(
      "template-invalid",
    );
    const dup = templateError(() => compileRuleTemplates("r", { defaultLocale: "en", locales: { en: { sms: { body: "x" } }, "de-AT": { sms: { body: "x" } }, "de-at": { sms: { body: "y" } } } }, SMS_ONLY));
    expect(dup.code).toBe("template-invalid");
    expect(dup.location.locale).toBe("de-at");
  });

  it("refuses a part source over the parse limit", () => {
    const error = templateError(() => compileRuleTemplates("r", smsRule("x".repeat(TEMPLATE_LIMITS.parseChars + 1)), SMS_ONLY));
    expect(error.code).toBe("template-invalid");
    expect(error.message).toContain("parse length limit exceeded");
  });
});

describe("no file system", () => {
  afterEach(() => vi.restoreAllMocks());

  function spyOnDisk() {
    return [
      vi.spyOn(fs, "readFileSync"),
      vi.spyOn(fs, "statSync"),
      vi.spyOn(fs, "existsSync"),
      vi.spyOn(fs, "realpathSync"),
      vi.spyOn(fs, "readFile"),
      vi.spyOn(fs, "stat"),
    ];
  }

  const secretFile = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-tpl-"));
    const file = path.join(dir, "secret.liquid");
    fs.writeFileSync(file, "TOPSECRET");
    return file;
  };

  it("control: a stock LiquidJS engine does read the disk for include (so the spies can see it)", () => {
    const file = secretFile();
    const spies = spyOnDisk();
    const stock = new Liquid({ root: path.dirname(file) });
    expect(stock.parseAndRenderSync(`{% include "${file}" %}`)).toBe("TOPSECRET");
    expect(spies.some((spy) => spy.mock.calls.length > 0)).toBe(true);
  });

  it.each(["include", "render", "layout"])("refuses the %s tag at compile time without touching the disk", (tag) => {
    const file = secretFile();
    for (const target of ["/etc/passwd", file]) {
      const spies = spyOnDisk();
      const error = templateError(() => compileRuleTemplates("r", smsRule(`a{% ${tag} "${target}" %}b`), SMS_ONLY));
      expect(error.code).toBe("template-invalid");
      expect(error.message).toContain(`tag "${tag}" not found`);
      expect(error.message).not.toContain("TOPSECRET");
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      vi.restoreAllMocks();
    }
  });

  it("refuses include inside a {% liquid %} block too", () => {
    expect(templateError(() => compileRuleTemplates("r", smsRule('{% liquid\ninclude "/etc/passwd"\n%}'), SMS_ONLY)).code).toBe("template-invalid");
  });
});

describe("limits", () => {
  it("stops a long-running loop at the iteration limit, long before the time limit", () => {
    // Small ranges (little allocation) nested deep: a billion iterations if left alone.
    const body = "{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}";
    const compiled = compileRuleTemplates("r", smsRule(body), SMS_ONLY);
    const started = performance.now();
    const error = templateError(() => renderTemplates(compiled, "sms", "en", context({})));
    const elapsed = performance.now() - started;
    expect(error.code).toBe("template-render-failed");
    expect(error.location).toMatchObject({ rule: "r", locale: "en", channel: "sms", part: "body" });
    expect(error.message).toMatch(/may (create|run) at most \d+/);
    expect(elapsed).toBeLessThan(TEMPLATE_LIMITS.renderMs);
  });

  it("stops a huge allocation at once, as template-render-failed", () => {
    const compiled = compileRuleTemplates("r", smsRule("{% for i in (1..100000000) %}x{% endfor %}"), SMS_ONLY);
    const started = performance.now();
    const error = templateError(() => renderTemplates(compiled, "sms", "en", context({})));
    expect(error.code).toBe("template-render-failed");
    expect(error.message).toContain("memory alloc limit exceeded");
    expect(performance.now() - started).toBeLessThan(TEMPLATE_LIMITS.renderMs);
  });

  it("bounds growth driven by event data too", () => {
    const compiled = compileRuleTemplates("r", smsRule('{{ data.items | join: "," | split: "," | join: data.sep }}'), SMS_ONLY);
    const items = Array.from({ length: 2_000 }, () => "x".repeat(1_000));
    expect(templateError(() => renderTemplates(compiled, "sms", "en", context({ items, sep: "-".repeat(10_000) }))).code).toBe("template-render-failed");
  });

  it("leaves the process's Error.stackTraceLimit as it found it, also after a failure", () => {
    const original = Error.stackTraceLimit;
    Error.stackTraceLimit = 17;
    try {
      expect(() => renderSms("{{ data.nope }}", {})).toThrow(TemplateError);
      expect(Error.stackTraceLimit).toBe(17);
      expect(renderSms("{% if data.nope %}x{% endif %}ok", {})).toBe("ok");
      expect(Error.stackTraceLimit).toBe(17);
    } finally {
      Error.stackTraceLimit = original;
    }
  });
});

describe("templateVariablePaths", () => {
  const rule: RuleTemplates = {
    defaultLocale: "en",
    locales: {
      en: {
        email: {
          subject: "Order {{ data.orderId }} shipped{% if recipient.name %}, {{ recipient.name }}{% endif %}",
          html: `<h1>{{ data.orderId }}</h1>
<ul>{% for item in data.items %}
  <li>{{ item.quantity }} × {{ item.name | truncate: 40 }}{% if item.note %} ({{ item.note }}){% endif %}
    {% for tag in item.tags %}{{ tag }}{{ forloop.index }}{% endfor %}</li>
{% endfor %}</ul>
<p>{{ data.items | map: "sku" | join: ", " }} ({{ data.items.size }} items, first {{ data.items.first.name }})</p>
{% assign heavy = data.items | where: "fragile", true | sort: "weight" %}{% for h in heavy %}{{ h.name }}{% endfor %}
{% assign top = data.items | first %}{{ top.sku }}
<p>{{ data.estimatedDelivery | default: "soon" }} {{ data.trackingUrl }}</p>
{% if data.trackingUrl %}<a href="{{ data.trackingUrl }}">track</a>{% endif %}
{% capture label %}{{ data.carrier | upcase }}{% endcapture %}{{ label }}
{{ data.byCarrier[data.carrier] }}`,
          text: "{% for item in data.items %}{{ item.name }}\n{% endfor %}{% unless data.gift %}{{ data.price.amount }}{% endunless %}",
        },
        push: { title: "{% case data.carrier %}{% when 'ups' %}{{ data.carrier }}{% endcase %}", body: "b" },
      },
      de: { push: { title: "{{ data.orderId }}", body: "{{ event.id }}" } },
    },
  };
  const compiled = compileRuleTemplates("order-shipped", rule, { email: PARTS["email"]!, push: PARTS["push"]! });
  const paths = templateVariablePaths(compiled);
  const of = (locale: string, channel: string, part: string) =>
    paths.filter((p) => p.locale === locale && p.channel === channel && p.part === part).map((p) => [p.path.join("."), p.guarded]);

  it("reports each global path once, in source order, with loop and filter element paths resolved", () => {
    expect(of("en", "email", "html")).toEqual([
      ["data.orderId", false],
      ["data.items", false],
      ["data.items.*.quantity", false],
      ["data.items.*.name", false],
      ["data.items.*.note", true],
      ["data.items.*.tags", false],
      ["data.items.*.tags.*", false],
      ["data.items.*.sku", false],
      ["data.items.size", false],
      ["data.items.first.name", false],
      ["data.items.*.fragile", false],
      ["data.items.*.weight", false],
      ["data.items.first.sku", false],
      ["data.estimatedDelivery", true],
      ["data.trackingUrl", false],
      ["data.carrier", false],
      ["data.byCarrier.*", false],
    ]);
  });

  it("marks conditions, guarded bodies and unless-bodies correctly", () => {
    expect(of("en", "email", "subject")).toEqual([
      ["data.orderId", false],
      ["recipient.name", true],
    ]);
    expect(of("en", "email", "text")).toEqual([
      ["data.items", false],
      ["data.items.*.name", false],
      ["data.gift", true],
      ["data.price.amount", false],
    ]);
    expect(of("en", "push", "title")).toEqual([["data.carrier", true]]);
    const unless = (body: string) =>
      templateVariablePaths(compileRuleTemplates("r", smsRule(body), SMS_ONLY)).map((p) => [p.path.join("."), p.guarded]);
    // `unless x` runs its body when x is absent, and its else when x is there.
    expect(unless("{% unless data.x %}{{ data.x }}{% endunless %}")).toEqual([["data.x", false]]);
    expect(unless("{% unless data.x %}-{% else %}{{ data.x }}{% endunless %}")).toEqual([["data.x", true]]);
    expect(unless("{% if data.x %}-{% else %}{{ data.x }}{% endif %}")).toEqual([["data.x", false]]);
  });

  it("locates the first unguarded occurrence, or the first occurrence when all are guarded", () => {
    const trackingUrl = paths.find((p) => p.part === "html" && p.path.join(".") === "data.trackingUrl")!;
    expect([trackingUrl.line, trackingUrl.column]).toEqual([9, 54]);
    const note = paths.find((p) => p.part === "html" && p.path.join(".") === "data.items.*.note")!;
    expect([note.line, note.column]).toEqual([3, 65]); // the `if` condition
    const later = templateVariablePaths(compileRuleTemplates("r", smsRule("{% if data.a %}{{ data.a }}{% endif %}\n  {{ data.a }}"), SMS_ONLY));
    expect(later).toEqual([{ locale: "en", channel: "sms", part: "body", path: ["data", "a"], line: 2, column: 6, guarded: false }]);
  });

  it("guards a path by a condition on a longer path through it, not by a shorter one", () => {
    const reads = templateVariablePaths(
      compileRuleTemplates("r", smsRule("{% if data.a.b.size > 0 %}{{ data.a.b }}{{ data.a.c }}{% endif %}{% if data.x %}{{ data.x.y }}{% endif %}"), SMS_ONLY),
    ).map((p) => [p.path.join("."), p.guarded]);
    expect(reads).toEqual([
      ["data.a.b.size", true],
      ["data.a.b", true],
      ["data.a.c", false],
      ["data.x", true],
      ["data.x.y", false],
    ]);
  });

  it("follows dotted filter properties the way LiquidJS reads them", () => {
    const body = '{{ data.items | map: "size.unit" | join: "," }}/{{ data.items | sum: "price.cents" }}';
    const compiled = compileRuleTemplates("r", smsRule(body), SMS_ONLY);
    expect(templateVariablePaths(compiled).map((p) => p.path.join("."))).toEqual(["data.items", "data.items.*.size.unit", "data.items.*.price.cents"]);
    const items = [{ size: { unit: "cm" }, price: { cents: 5 } }, { size: { unit: "in" }, price: { cents: 7 } }];
    expect(renderTemplates(compiled, "sms", "en", context({ items })).parts["body"]).toBe("cm,in/12");
  });

  it("covers every locale and channel", () => {
    expect(of("de", "push", "title")).toEqual([["data.orderId", false]]);
    expect(of("de", "push", "body")).toEqual([["event.id", false]]);
    expect(of("en", "push", "body")).toEqual([]);
  });

  it("includes every global path LiquidJS's own analysis reports", () => {
    const engine = new Liquid();
    const sources = rule.locales["en"]!["email"]!;
    for (const [part, source] of Object.entries(sources)) {
      const ours = new Set(of("en", "email", part).map(([p]) => p));
      for (const segments of engine.globalVariableSegmentsSync(source)) {
        const flat = segments.map((s) => (Array.isArray(s) ? "*" : String(s))).join(".");
        expect(ours, `${part}: ${flat}`).toContain(flat);
      }
    }
  });

  it("reads the shipped order.shipped templates: loop items, and optional fields only under an if", () => {
    const shipped = compileRuleTemplates("order-shipped", orderShippedTemplates, PARTS);
    const reads = templateVariablePaths(shipped).filter((p) => p.locale === "en" && p.channel === "email" && p.part === "html");
    expect(reads.map((p) => p.path.join("."))).toEqual(expect.arrayContaining(["data.items", "data.items.*.name", "data.items.*.quantity", "data.trackingUrl"]));
    expect(reads.find((p) => p.path.join(".") === "data.trackingUrl")?.guarded).toBe(true);
  });
});

describe("rendering a full rule", () => {
  it("renders every part of the shipped order.shipped email, German for de-AT", () => {
    const compiled = compileRuleTemplates("order-shipped", orderShippedTemplates, PARTS);
    const out = renderTemplates(
      compiled,
      "email",
      "de-AT",
      context(
        { orderId: "A-1234", customerId: "c", carrier: "ups", trackingNumber: "1Z999", shippedAt: "2026-01-01T00:00:00Z", items: [{ sku: "M", name: "Mug <XL>", quantity: 2 }] },
        { recipient: { id: "c", name: "Anna", locale: "de-AT" } },
      ),
    );
    expect(out.locale).toBe("de");
    expect(out.parts["subject"]).toBe("Ihre Bestellung A-1234 ist unterwegs");
    expect(out.parts["html"]).toContain("<li>2 × Mug &lt;XL&gt;</li>");
    expect(out.parts["text"]).toContain("- 2 x Mug <XL>\n");
    expect(Object.keys(out.parts)).toEqual(["subject", "html", "text"]);
  });

  it("renders the same compiled templates many times with independent results (no state leaks between renders)", () => {
    const compiled = compileRuleTemplates("r", smsRule("{% assign n = data.n %}{% increment c %}{{ n }}"), SMS_ONLY);
    const a = renderTemplates(compiled, "sms", "en", context({ n: "A" })).parts["body"];
    const b = renderTemplates(compiled, "sms", "en", context({ n: "B" })).parts["body"];
    expect([a, b]).toEqual(["0A", "0B"]);
  });

  it("rejects anything but a compiled rule", () => {
    expect(() => renderTemplates({ rule: "r", defaultLocale: "en", locales: [], channels: [] }, "sms", "en", context({}))).toThrow(TypeError);
  });
});

describe("lazy compilation (rules already checked in full, as the shipped ones are)", () => {
  it("checks the structure at once but parses a locale×channel only when first rendered", () => {
    // A syntax error in the German e-mail: lazy compilation accepts the rule...
    const templates: RuleTemplates = {
      defaultLocale: "en",
      locales: { en: { email: { subject: "s", html: "<p>{{ data.name }}</p>", text: "t" } }, de: { email: { subject: "s", html: "{% if %}", text: "t" } } },
    };
    expect(() => compileRuleTemplates("r", templates, EMAIL_ONLY)).toThrow(TemplateError);
    const lazy = compileRuleTemplates("r", templates, EMAIL_ONLY, { lazy: true });
    // ...renders the good locale exactly as an eager compile would...
    expect(renderTemplates(lazy, "email", "en", context({ name: "<Ada>" })).parts).toEqual({ subject: "s", html: "<p>&lt;Ada&gt;</p>", text: "t" });
    // ...and reports the bad one, with the same error, when it is needed.
    const error = templateError(() => renderTemplates(lazy, "email", "de", context({ name: "x" })));
    expect(error.code).toBe("template-invalid");
    expect(error.location).toMatchObject({ rule: "r", locale: "de", channel: "email", part: "html" });
    // A structural problem is still found at once.
    expect(() => compileRuleTemplates("r", { defaultLocale: "en", locales: { en: { email: { subject: "s", html: "h" } } } }, EMAIL_ONLY, { lazy: true })).toThrow(
      /missing required part "text"/,
    );
  });

  it("reports the same variable paths as an eager compile, per channel on request", () => {
    const eager = compileRuleTemplates("order-shipped", orderShippedTemplates, PARTS);
    const lazy = compileRuleTemplates("order-shipped", orderShippedTemplates, PARTS, { lazy: true });
    expect(templateVariablePaths(lazy)).toEqual(templateVariablePaths(eager));
    expect(templateVariablePaths(lazy, "sms")).toEqual(templateVariablePaths(eager).filter((path) => path.channel === "sms"));
    expect(templateVariablePaths(lazy, "sms").length).toBeGreaterThan(0);
  });
});

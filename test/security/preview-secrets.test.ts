/**
 * Threat: secrets shown by the deployment preview. `herald preview` runs the real Pulumi
 * program offline and prints every input of every resource; with the channels' secrets
 * pasted into the stack file in plain text (the worst case), none may appear in its
 * output, while the secret resources that hold them must still be declared.
 */
import { rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SMTP_PASSWORD, SMTP_USER, TWILIO_SID, TWILIO_TOKEN, VAPID, expectNoSecrets } from "./fixtures";
import { herald } from "./cli";

describe("herald preview with the secrets in the stack file", { timeout: 60_000 }, () => {
  const stack = `security${process.pid}`;
  const file = `Pulumi.${stack}.yaml`;

  beforeAll(() => {
    // Plain values (not `secure:` ciphertext), the worst case: someone pasted them in.
    writeFileSync(
      file,
      [
        "config:",
        "  herald:cloud: aws",
        "  aws:region: eu-west-1",
        "  herald:settings:",
        "    HERALD_EMAIL_FROM: ops@example.com",
        `    TWILIO_ACCOUNT_SID: ${TWILIO_SID}`,
        '    HERALD_SMS_FROM: "+15551234567"',
        `    HERALD_VAPID_PUBLIC_KEY: ${VAPID.publicKey}`,
        "    HERALD_VAPID_SUBJECT: mailto:ops@example.com",
        "  herald:secrets:",
        `    HERALD_SMTP_URL: "smtps://${SMTP_USER}:${encodeURIComponent(SMTP_PASSWORD)}@smtp.example.com"`,
        `    TWILIO_AUTH_TOKEN: "${TWILIO_TOKEN}"`,
        `    HERALD_VAPID_PRIVATE_KEY: "${VAPID.privateKey}"`,
        "",
      ].join("\n"),
    );
  });
  afterAll(() => rmSync(file, { force: true }));

  it("--json (every input of every resource) shows the secret resources, never their values", async () => {
    const { code, output } = await herald("preview", "--cloud", "aws", "--stack", stack, "--json");
    expect(code).toBe(0);
    const resources = JSON.parse(output) as Array<{ type: string; name: string; inputs: Record<string, unknown> }>;
    // The channels' secrets were read and declared (so the check is not vacuous)...
    const versions = resources.filter((r) => r.type === "aws:secretsmanager/secretVersion:SecretVersion");
    expect(versions.map((r) => r.name).sort()).toEqual(expect.arrayContaining(["herald-email", "herald-push", "herald-sms"]));
    for (const version of versions) expect(version.inputs.secretString).toBe("[secret]");
    // ...and no input anywhere (environment variables, policies, code archives) carries them.
    expectNoSecrets(output, "herald preview --json");
  });
});

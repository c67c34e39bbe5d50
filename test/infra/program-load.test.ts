import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

function loadProgram(config: Record<string, unknown>): { outputs?: Record<string, unknown>; error?: string; main?: string; runtime?: unknown } {
  const out = execFileSync(process.execPath, ["test/support/load-pulumi-program.js", JSON.stringify(config)], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

describe("Pulumi program", () => {
  it("loads infra/index.ts through ts-node as `pulumi up` would, and exports the stack outputs", () => {
    const result = loadProgram({ "herald:cloud": "aws" });
    expect(result.error).toBeUndefined();
    expect(result.main).toBe("infra/index.ts");
    expect(result.runtime).toMatchObject({ name: "nodejs", options: { typescript: true } });
    expect(result.outputs?.cloud).toBe("aws");
    expect(result.outputs?.eventTypes).toMatchObject({ "order.shipped": [1, 2], "herald.test_notification": [1] });
  });

  it("fails early with the config key named when herald:cloud is wrong", () => {
    expect(loadProgram({ "herald:cloud": "awz" }).error).toMatch(/^herald:cloud: must be one of aws, gcp, azure/);
    expect(loadProgram({}).error).toMatch(/^herald:cloud: is not set/);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SEGMENT_LIMITS, countSegments, isGsm7 } from "../../handlers/core/sms-segments";

const gsm = (n: number) => "a".repeat(n);
const ucs = (n: number) => "中".repeat(n);

describe("countSegments: known vectors", () => {
  it.each([
    [160, 1],
    [161, 2],
    [306, 2],
    [307, 3],
    [459, 3],
    [460, 4],
  ])("%i GSM-7 characters are %i segment(s)", (length, count) => {
    expect(countSegments(gsm(length))).toEqual({ encoding: "GSM-7", count, units: length });
  });

  it.each([
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
  ])("%i UCS-2 code units are %i segment(s)", (length, count) => {
    expect(countSegments(ucs(length))).toEqual({ encoding: "UCS-2", count, units: length });
  });

  it("counts extension characters as two septets and stays GSM-7", () => {
    expect(countSegments("€")).toEqual({ encoding: "GSM-7", count: 1, units: 2 });
    expect(countSegments("[]{}^~\\|€\f").units).toBe(20);
    expect(countSegments("€".repeat(80))).toEqual({ encoding: "GSM-7", count: 1, units: 160 });
    // 81 euros = 162 septets; a part holds 76 escape pairs (152 septets), never 76.5.
    expect(countSegments("€".repeat(81))).toEqual({ encoding: "GSM-7", count: 2, units: 162 });
    expect(countSegments(gsm(159) + "€")).toEqual({ encoding: "GSM-7", count: 2, units: 161 });
  });

  it("keeps the basic set (accents, Greek capitals, Ç) in GSM-7", () => {
    expect(isGsm7("Ça coûte 5€? Ærø ΔΦΓΛΩΠΨΣΘΞ @£$¥ èéùìò ¿¡ §")).toBe(false); // û is not GSM
    expect(isGsm7("Ça coute 5€? Ærø ΔΦΓΛΩΠΨΣΘΞ @£$¥ èéùìò ¿¡ §")).toBe(true);
    expect(countSegments("Hello\r\nWorld").encoding).toBe("GSM-7");
  });

  it("lets one non-GSM character force UCS-2, and an emoji counts two code units", () => {
    expect(countSegments("😀")).toEqual({ encoding: "UCS-2", count: 1, units: 2 });
    expect(countSegments("Your code is 1234 😀")).toEqual({ encoding: "UCS-2", count: 1, units: 20 });
    expect(countSegments("😀".repeat(35))).toEqual({ encoding: "UCS-2", count: 1, units: 70 });
    expect(countSegments("😀".repeat(36))).toEqual({ encoding: "UCS-2", count: 2, units: 72 });
    expect(countSegments(gsm(100) + "ç").encoding).toBe("UCS-2");
    // A lone ESC is not text a carrier sends as itself.
    expect(countSegments("\u001b").encoding).toBe("UCS-2");
  });

  it("never splits an escape pair across parts", () => {
    // 152 + 2 + 152 = 306 septets would fit two parts if the pair could be split.
    expect(countSegments(gsm(152) + "€" + gsm(152))).toEqual({ encoding: "GSM-7", count: 3, units: 306 });
    expect(countSegments(gsm(151) + "€" + gsm(153))).toEqual({ encoding: "GSM-7", count: 2, units: 306 });
  });

  it("never splits a surrogate pair across parts", () => {
    // 66 + 2 + 66 = 134 code units would fit two parts if the emoji could be split.
    expect(countSegments(ucs(66) + "😀" + ucs(66))).toEqual({ encoding: "UCS-2", count: 3, units: 134 });
    expect(countSegments(ucs(65) + "😀" + ucs(67))).toEqual({ encoding: "UCS-2", count: 2, units: 134 });
  });

  it("counts the empty text as no segment", () => {
    expect(countSegments("")).toEqual({ encoding: "GSM-7", count: 0, units: 0 });
  });
});

describe("countSegments: properties", () => {
  const alphabet = fc.constantFrom("a", "Z", "7", " ", "é", "Δ", "\n", "€", "[", "|", "中", "ç", "😀", "👍🏽", "\u{1F1EB}\u{1F1F7}");
  const texts = fc.string({ unit: alphabet, maxLength: 400 });

  it("never counts fewer parts than units / capacity, and wastes at most one unit per part", () => {
    fc.assert(
      fc.property(texts, (text) => {
        const { encoding, count, units } = countSegments(text);
        const limits = SEGMENT_LIMITS[encoding];
        const perSegment = count <= 1 ? limits.single : limits.multipart;
        expect(count).toBeGreaterThanOrEqual(Math.ceil(units / perSegment));
        // A part can only lose its last unit to a pair that did not fit.
        if (count > 1) expect(count).toBeLessThanOrEqual(Math.ceil(units / (perSegment - 1)));
        expect(count === 1).toBe(units > 0 && units <= limits.single);
      }),
      { numRuns: 500 },
    );
  });

  it("measures GSM-7 in septets and UCS-2 in UTF-16 code units", () => {
    fc.assert(
      fc.property(texts, (text) => {
        const { encoding, units } = countSegments(text);
        if (encoding === "UCS-2") {
          expect(units).toBe(text.length);
        } else {
          const escapes = [...text].filter((ch) => "€[|".includes(ch)).length;
          expect(units).toBe(text.length + escapes);
        }
        expect(encoding === "GSM-7").toBe(isGsm7(text));
      }),
      { numRuns: 500 },
    );
  });

  it("never counts fewer parts after appending text", () => {
    fc.assert(
      fc.property(texts, texts, (a, b) => {
        const before = countSegments(a);
        const after = countSegments(a + b);
        if (before.encoding === after.encoding) expect(after.count).toBeGreaterThanOrEqual(before.count);
      }),
      { numRuns: 300 },
    );
  });
});

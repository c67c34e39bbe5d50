/**
 * SMS segment counting (GSM 03.38 / 3GPP TS 23.038). Pure: rules call it when they
 * render an SMS so the message carries its segment count, and the SMS channel calls
 * it again before sending so an over-long text is refused instead of billed.
 */

/** How a text is encoded on the air interface. */
export type SmsEncoding = "GSM-7" | "UCS-2";

/** What a text costs as SMS. */
export interface SegmentCount {
  readonly encoding: SmsEncoding;
  /** Number of SMS parts the text is sent as (0 for the empty text). */
  readonly count: number;
  /** Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2. */
  readonly units: number;
}

/** Per-segment capacity, in units, by encoding: a single SMS, and each part of a concatenated one. */
export const SEGMENT_LIMITS = {
  "GSM-7": { single: 160, multipart: 153 },
  "UCS-2": { single: 70, multipart: 67 },
} as const;

// The default alphabet, escape (0x1B) left out: a literal ESC in a text is not
// something a carrier will transmit as itself.
const GSM_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);

// Extension table: each is sent as ESC + char, two septets that must stay in one part.
const GSM_EXTENSION = new Set("\f^{}\\[~]|€");

/** Whether every character of `text` is in the GSM 03.38 basic set or extension table. */
export function isGsm7(text: string): boolean {
  for (const ch of text) {
    if (!GSM_BASIC.has(ch) && !GSM_EXTENSION.has(ch)) return false;
  }
  return true;
}

/**
 * Counts the SMS segments `text` is sent as. GSM-7 when every character is in the
 * GSM 03.38 basic set or extension table, UCS-2 otherwise. A single SMS holds 160
 * septets or 70 code units; each part of a concatenated SMS loses room to the UDH and
 * holds 153 or 67. Parts are filled greedily without splitting an escape pair or a
 * surrogate pair, which is why a text can need one more part than units / capacity.
 */
export function countSegments(text: string): SegmentCount {
  const encoding: SmsEncoding = isGsm7(text) ? "GSM-7" : "UCS-2";
  // Iterating a string yields code points, so a surrogate pair arrives as one item of length 2.
  const widths: number[] = [];
  for (const ch of text) {
    widths.push(encoding === "GSM-7" ? (GSM_EXTENSION.has(ch) ? 2 : 1) : ch.length);
  }
  const units = widths.reduce((sum, w) => sum + w, 0);
  const limits = SEGMENT_LIMITS[encoding];
  if (units === 0) return { encoding, count: 0, units };
  if (units <= limits.single) return { encoding, count: 1, units };

  let count = 1;
  let used = 0;
  for (const w of widths) {
    if (used + w > limits.multipart) {
      count += 1;
      used = 0;
    }
    used += w;
  }
  return { encoding, count, units };
}

/**
 * Web Push size limit, shared by rules (which refuse an oversized notification when
 * they build it) and the push channel (which checks again before sending). It lives in
 * core so that building a message never reaches into the push module's delivery code.
 */

/**
 * Largest JSON payload accepted, in bytes. Push services cap the encrypted body at
 * 4096 bytes (RFC 8030 section 7.2); aes128gcm adds an 86-byte header, a 1-byte padding
 * delimiter and a 16-byte tag, so 4096 - 103 bytes of plaintext fill one record exactly.
 */
export const PUSH_MAX_PAYLOAD_BYTES = 3993;

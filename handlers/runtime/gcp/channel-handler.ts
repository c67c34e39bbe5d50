/**
 * A channel function's Cloud Functions entry point. The bundle's entry is
 * `export const handler = createChannelHandler(<that channel's module>)`, so each bundle
 * carries only its own channel's SDK (see infra/bundle.ts).
 */
import type { ChannelAdapter } from "../../core/ports";
import { httpFunction, type HttpFunction } from "./http";
import { createChannelPushHandler } from "./channel-push-handler";

export function createChannelHandler(adapter: ChannelAdapter): HttpFunction {
  return httpFunction(() => createChannelPushHandler(adapter));
}

/**
 * Clients on the emulators for the GCP shim tests. The emulator hosts are also put in
 * the environment (`FIRESTORE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`) because that is
 * what makes the client libraries use insecure channels without tokens. One lookup is
 * left: google-gax asks google-auth-library for the credentials' universe domain on every
 * new stub, and without credentials that probes the GCE metadata server (169.254.169.254,
 * metadata.google.internal). `METADATA_SERVER_DETECTION=none` answers "not on GCE" without
 * any traffic, so nothing leaves 127.0.0.1. Each test file runs in its own process.
 */
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import type { GcpEmulator } from "../../support/gcp-emulators";

function offline(): void {
  process.env.METADATA_SERVER_DETECTION = "none";
}

export function firestoreClient(emulator: GcpEmulator, projectId: string): Firestore {
  offline();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  return new Firestore({ projectId });
}

export function pubsubClient(emulator: GcpEmulator, projectId: string): PubSub {
  offline();
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  return new PubSub({ projectId, apiEndpoint: emulator.host, emulatorMode: true });
}

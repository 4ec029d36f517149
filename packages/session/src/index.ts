/**
 * `@savevm/session`: every connection of a migration — transports by URI (`tcp:`, `unix:`,
 * `file:`, `fd:`, `exec:`, with mutual TLS), QEMU's return path and its verdict — and the
 * one-call `migrate(uri)` / `incoming(uri)` API a VMM uses.
 * @packageDocumentation
 */

// The one-call API.
export { createMigrationSession, MigrationSession, type MigrationSessionOptions } from './session/migration-session.js';
export { IncomingMigration } from './session/incoming-migration.js';
export type { MigrateParameters, IncomingParameters, IncomingEndpoint, ConnectedPeer } from './session/session-options.js';

// Transports by URI (tcp:, unix:, file:, fd:, exec:; TLS with mutual authentication).
export { formatHostPort } from './transport/migration-uri.js';
export { TransportError, type TransportPhase, type TransportErrorInit } from './transport/transport-error.js';
export { loadTlsCredentials, type TlsCredentials, type TlsCredentialFiles, type PeerIdentity } from './transport/tls-credentials.js';
export type { TransportOptions, OutgoingOptions, IncomingTransportOptions } from './transport/transport-options.js';
export { openOutgoing, type OutgoingTransport } from './transport/outgoing.js';
export { listenIncoming, type IncomingListener, type IncomingTransport, type ListenAddress } from './transport/incoming.js';
export { WatchdogChannel } from './transport/watchdog-channel.js';

// QEMU's return path.
export { ReturnPathReader, ReturnPathWriter } from './transport/return-path.js';

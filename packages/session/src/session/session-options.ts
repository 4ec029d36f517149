/**
 * What `MigrationSession.migrate` and `MigrationSession.incoming` take. The parameters are
 * core's `MigrationParameters` (all optional, QEMU's defaults), plus how to reach the peer.
 */
import type { MigrationParameters } from '@savevm/core';
import type { PeerIdentity, TlsCredentials } from '../transport/tls-credentials.js';
import type { ListenAddress } from '../transport/incoming.js';

/** How a connection to the peer came about, for an embedder's log or a progress view. */
export interface ConnectedPeer {
  /** What it is connected to, e.g. `tcp 10.0.0.2:4444 (TLS, destination certificate CN=dst)`. */
  readonly description: string;
  /** The peer, for network transports (with its verified certificate under TLS). */
  readonly peer: PeerIdentity | undefined;
  /** Whether QEMU's return path is in use on this connection. */
  readonly returnPath: boolean;
}

/** The source's parameters: how to migrate, and how to reach the destination. */
export interface MigrateParameters extends Partial<Omit<MigrationParameters, 'switchoverAck' | 'returnPath'>> {
  /**
   * QEMU's return path (capability `return-path`): the source completes only after the
   * destination's SHUT says it loaded everything. Always on for transports with a way back
   * (`tcp:`, `unix:`, an `fd:` that is a socket): `false` there is refused (INVALID_ARGUMENT),
   * since the migration would end without the destination's verdict. Off for `file:`,
   * `exec:` and an `fd:` on a file, where `true` is refused (see
   * `docs/design/return-path.md`; a pipe is refused either way).
   */
  readonly returnPath?: boolean | undefined;
  /**
   * QEMU's capability `switchover-ack`: a running VM is stopped only after the destination
   * acknowledged (its VFIO devices loaded their initial data). Needs the return path; the
   * destination must ask for it too.
   */
  readonly switchoverAck?: boolean | undefined;
  /** Cancels the migration (QMP `migrate_cancel`): the VM runs again, devices intact. */
  readonly signal?: AbortSignal | undefined;
  /** Longest time to connect and finish the TLS handshake, ms (default 10 s). */
  readonly connectTimeoutMs?: number | undefined;
  /** Longest time a write may wait without a byte moving, ms (default: none). */
  readonly transferTimeoutMs?: number | undefined;
  /** TLS with mutual authentication (`tcp:` and `unix:` only). */
  readonly tls?: TlsCredentials | undefined;
  /** The name the destination's certificate must carry (default: the URI's host; required for `unix:` with TLS). */
  readonly tlsServerName?: string | undefined;
  /**
   * Most bytes held for the connection that it has not taken yet (default 16 MiB, see
   * `docs/writing-a-device-handler.md`, back-pressure); `Infinity` lifts the cap.
   */
  readonly queueCap?: number | undefined;
  /** Told once the connection is up, before any device state moves. */
  readonly onConnected?: ((peer: ConnectedPeer) => void) | undefined;
  /**
   * QEMU's capability `multifd` with `multifd-channels` N (default: off): N more connections
   * carry RAM pages, and with `streamCompat: 'qemu-10.0'` device state too
   * (docs/design/multifd.md). `tcp:` and `unix:` only; the destination must expect as many.
   */
  readonly multifdChannels?: number | undefined;
  /** The VM's uuid (QEMU `-uuid`) that every multifd channel announces; default all zero. */
  readonly uuid?: string | undefined;
}

/** The destination's options: how to load, and where to wait for the source. */
export interface IncomingParameters {
  /** Start the VM after a good load (default false: it stays paused, as QEMU's `-S`). */
  readonly autostart?: boolean | undefined;
  /** The local machine type; the stream's configuration must name it (default: any). */
  readonly machine?: string | undefined;
  /** Require the configuration section (default true, as QEMU). */
  readonly requireConfiguration?: boolean | undefined;
  /** QEMU's capability `switchover-ack` (the source must ask for it too). */
  readonly switchoverAck?: boolean | undefined;
  /**
   * A last check of the loaded state before the VM starts and before the source is told the
   * outcome: a throw fails the load, and the source hears that the destination failed.
   */
  readonly verifyLoaded?: (() => void | Promise<void>) | undefined;
  /** Stops waiting or loading: the load fails with reason CANCELLED. */
  readonly signal?: AbortSignal | undefined;
  /** Address a `tcp:` destination binds to (default: the URI's host, else 127.0.0.1). */
  readonly listenAddress?: string | undefined;
  /** Longest wait for a source to connect, ms (default: forever). */
  readonly connectTimeoutMs?: number | undefined;
  /** Longest time a read may wait without a byte arriving, ms (default: none). */
  readonly transferTimeoutMs?: number | undefined;
  /** TLS with mutual authentication (`tcp:` and `unix:` only). */
  readonly tls?: TlsCredentials | undefined;
  /** Told about every peer refused before the stream began (a bad certificate), with the reason. */
  readonly onPeerRefused?: ((address: string, reason: string) => void) | undefined;
  /** Told once a source is connected, before any device state is loaded. */
  readonly onConnected?: ((peer: ConnectedPeer) => void) | undefined;
  /**
   * QEMU's capability `multifd` with `multifd-channels` N (default: off): the load starts once
   * the main connection and N channel connections are there, in any order
   * (docs/design/multifd.md). `tcp:` and `unix:` only.
   */
  readonly multifdChannels?: number | undefined;
  /** This VM's uuid (QEMU `-uuid`); every multifd channel must announce it. Default all zero. */
  readonly uuid?: string | undefined;
  /** Longest wait for every multifd channel once the first connection came, ms (default 30 s). */
  readonly multifdAcceptTimeoutMs?: number | undefined;
}

/** Where a destination waits, once it does. */
export interface IncomingEndpoint {
  /**
   * The URI a source should use: the given one, with the port the system picked when it
   * said 0 (`tcp:127.0.0.1:0` → `tcp:127.0.0.1:41234`).
   */
  readonly uri: string;
  /** The bound address, for `tcp:` and `unix:`. */
  readonly address: ListenAddress | undefined;
  /** Whether sources must present a certificate signed by the CA. */
  readonly tls: boolean;
}

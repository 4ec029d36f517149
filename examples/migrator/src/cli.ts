import type { CliOutput } from './cli-output.js';
import { runIncomingCommand } from './commands/incoming-command.js';
import { runInspect } from './commands/inspect-command.js';
import { runMigrateCommand } from './commands/migrate-command.js';
import { runDemoCommand } from './commands/demo-command.js';

export type { CliOutput } from './cli-output.js';

/** Text of `savevm --help`. */
export const USAGE = `usage: savevm <command> [options]

commands:
  incoming URI VM [options]     receive a migration (the destination; start it first)
  migrate URI VM [options]      send one (the source)
  inspect FILE [--json] [--max-bytes SIZE] [--vmstate DUMP.json[.gz] [--reencode OUT]]
                                list the records of a QEMU migration stream (read whole, up to
                                SIZE, default 1G; a longer input, e.g. /dev/zero, is refused);
                                with QEMU's -dump-vmstate, each device's fields by name, and
                                --reencode writes the stream back through the vmstate engine
  demo                          a destination and a source on loopback: guest RAM and two devices, checked

VM: --device SPEC (repeat) and/or --memory MEM; both sides give the same

URI:
  tcp:HOST:PORT   TCP; a destination binds to 127.0.0.1 unless --listen-address (or the URI host) says otherwise
  unix:PATH       a Unix-domain socket
  file:PATH       a file: migrate --paused writes a snapshot, incoming restores it
  fd:N            an inherited file descriptor: a socket (with the return path) or a file; migrate refuses
                  a pipe, which cannot say whether the destination loaded the stream (use exec:CMD)
  exec:CMD        a shell command: the source writes to its stdin, the destination reads its stdout

SPEC:
  emulated:NAME[,size=BYTES][,flags=stop-copy|p2p|pre-copy][,dirty-rate=BYTES_PER_S][,dma-rate=BYTES_PER_S][,seed=N]
                  an emulated VFIO v2 device (default 1M, stop-copy|p2p, no dirtying, seed 1); its
                  state is filled from the seed, and the destination checks the bytes it loaded;
                  with --memory, dma-rate makes it write BYTES_PER_S worth of guest RAM pages by DMA
                  while it runs (its DMA logging tells the RAM which pages to send again); with
                  more than one VFIO device, migrate needs p2p on every one (QEMU 8.2's rule)
  vfio:SYSFS_PATH_OR_MDEV_UUID
                  a real VFIO device; VFIO migration v2, else v1, picks its handlers

MEM:
  SIZE[,dirty-rate=BYTES_PER_S][,seed=N]
                  guest RAM: one block named "ram" (QEMU's name with -M none), SIZE in whole
                  4 KiB pages from 4K to 2G (64M, 1G); filled from the seed (default 1); while
                  the VM runs a guest dirties BYTES_PER_S worth of 4 KiB pages at random offsets
                  (8M = 2048 pages/s; default none) and stops at switchover; the destination
                  checks the bytes it loaded against the source's before it starts

options (both sides):
  --device SPEC            a device taking part (repeat; same names on both sides)
  --memory MEM             the VM's guest RAM (once; same SIZE on both sides)
  --tls-cert FILE --tls-key FILE --tls-ca FILE
                           TLS 1.3 with mutual authentication: present FILE, trust peers signed by the CA
  --timeout DURATION       fail when no byte moves for this long (default 30s; bare number = seconds)
  --connect-timeout DURATION
                           source: connecting (default 10s); destination: waiting for a source (default: forever)
  --switchover-ack         VFIO switchover-ack: stop the VM only after the destination loaded the initial data
  --paused                 source: migrate a paused VM (snapshot); destination: stay paused after loading
  --multifd-channels N     QEMU's multifd: N more connections (1-255; tcp: and unix: only, the same N on
                           both sides) carry RAM pages, and with --compat 10.0 device state; the progress
                           shows each channel's throughput, the summary each channel's bytes
  --uuid UUID              the VM's uuid (QEMU -uuid) each multifd channel announces (default all zero)
  --json                   one JSON line per event (the default when stdout is not a terminal), among them
                           a vfio-migration line at each VFIO device state change (QEMU's VFIO_MIGRATION)
migrate:
  --downtime-limit DURATION  longest acceptable downtime (default 300ms; bare number = ms)
  --max-bandwidth RATE       bytes per second, e.g. 100M (default 128M; 0 = unlimited)
  --avail-switchover-bandwidth RATE
                             bandwidth to assume when deciding to switch over, instead of the measured one
  --max-iterations N         switch over after N pre-copy rounds even if not converged
  --converge POLICY          once pre-copy stops converging (pending not shrinking for --stall-rounds):
                               keep-going (default: iterate on, reported as not converging),
                               switchover[,rounds=N][,after=DURATION] (switch over anyway; the downtime
                               may exceed the limit), step-downtime[,step=100ms][,ceiling=2s] (raise
                               the downtime limit a step per stalled window, as KubeVirt proposes)
  --stall-rounds N           rounds without the pending bytes shrinking that count as not converging (default 10)
  --tls-hostname NAME        the name the destination certificate must carry (default: the URI host)
  --compat 7.2|10.0          the stream to write: what QEMU 7.2 accepts (default; QEMU 10.0 loads it too),
                             or what QEMU 10.0 writes (SWITCHOVER_START, its globalstate and vmdesc)
  --allow-multi-device-without-p2p
                             migrate several VFIO devices although some lack p2p (or are v1), vouching
                             that none does peer-to-peer DMA; without it such a migration is refused
incoming:
  --listen-address ADDRESS   address a tcp: destination binds to (default 127.0.0.1)

exit status: 0 done, 1 failed (one line on stderr names the device and the phase), 2 usage, 130 interrupted
`;

/** The real process's output; `interrupt` aborts on Ctrl-C / SIGTERM (see bin/savevm.js). */
export function processOutput(interrupt?: AbortSignal): CliOutput {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    terminal: process.stdout.isTTY ? process.stdout : undefined,
    interrupt,
  };
}

/** Runs the `savevm` command line; resolves to the exit code. */
export async function main(argv: readonly string[], out: CliOutput = processOutput()): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'inspect':
      return runInspect(rest, out);
    case 'migrate':
      return runMigrateCommand(rest, out);
    case 'incoming':
      return runIncomingCommand(rest, out);
    case 'demo':
      return runDemoCommand(rest, out);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      out.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      out.stderr(`savevm: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

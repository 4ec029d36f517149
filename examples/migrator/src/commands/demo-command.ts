/**
 * `savevm demo` (`npm run demo`): the main job in one command. Starts a destination
 * (`savevm incoming`, a child process) and a source (`savevm migrate`, this process) on
 * loopback with guest RAM that a guest keeps dirtying and two emulated devices — one with
 * pre-copy and a dirtying workload — migrates, checks that the destination's RAM and device
 * bytes equal the source's, and prints the summary.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseMigrateOptions } from '../args/migration-options.js';
import type { CliOutput } from '../cli-output.js';
import { CliEvents } from '../output/cli-events.js';
import type { MigrationSummary } from '../output/summary.js';
import { ExitCode } from './command-support.js';
import { migrate } from './migrate-command.js';

/**
 * The demo's devices: what a VFIO device holds goes with the VM stopped (gpu0 all of it,
 * nic0 what it dirtied last and its stop-copy data), so they are small enough to fit the
 * downtime limit with the RAM's last pages.
 */
export const DEMO_DEVICES = [
  'emulated:nic0,size=8M,flags=stop-copy|p2p|pre-copy,dirty-rate=2M,seed=7',
  'emulated:gpu0,size=4M,flags=stop-copy|p2p,seed=42',
] as const;

/** The demo's guest RAM: 64 MiB, 2048 pages a second dirtied while the VM runs. */
export const DEMO_MEMORY = '64M,dirty-rate=8M,seed=3';

/** A bandwidth limit, so pre-copy takes about a second and the progress has time to show. */
const DEMO_BANDWIDTH = '64M';
/** The switchover comes once what is left fits in this at the measured bandwidth. */
const DEMO_DOWNTIME_LIMIT = '500ms';

const BIN = fileURLToPath(new URL('../../bin/savevm.js', import.meta.url));

/** What the destination child reported. */
interface DestinationReport {
  listening: Promise<string>;
  summary: Promise<MigrationSummary | undefined>;
  exit: Promise<number>;
}

function startDestination(child: ChildProcess): DestinationReport {
  let summary: MigrationSummary | undefined;
  const listening = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      let record: { event?: string; address?: string } & Record<string, unknown>;
      try {
        record = JSON.parse(line) as typeof record;
      } catch {
        return;
      }
      if (record.event === 'listening' && typeof record.address === 'string') resolve(record.address);
      if (record.event === 'summary') summary = record as unknown as MigrationSummary;
    });
    child.once('exit', () => reject(new Error('the destination exited before it listened')));
  });
  const exit = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  return { listening, exit, summary: exit.then(() => summary) };
}

/** Runs the demo; resolves to the exit code. */
export async function runDemoCommand(args: readonly string[], out: CliOutput): Promise<number> {
  if (args.length > 0) {
    out.stderr('savevm demo takes no arguments\n');
    return ExitCode.USAGE;
  }
  const devices = [...DEMO_DEVICES.flatMap((d) => ['--device', d]), '--memory', DEMO_MEMORY];
  out.stdout('savevm demo: migrate guest RAM and two emulated VFIO devices over TCP on loopback, then check their bytes\n');
  const child = spawn(process.execPath, [BIN, 'incoming', 'tcp:127.0.0.1:0', '--json', '--connect-timeout', '30s', ...devices], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const destinationErrors: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => destinationErrors.push(chunk.toString()));
  const destination = startDestination(child);
  try {
    const address = await destination.listening;
    out.stdout(`  destination: savevm incoming tcp:127.0.0.1:0 ${DEMO_DEVICES.map((d) => `--device '${d}'`).join(' ')} --memory '${DEMO_MEMORY}'\n`);
    out.stdout(`               (pid ${child.pid}) listening on ${address}\n`);
    out.stdout(`  source:      savevm migrate ${address} --max-bandwidth ${DEMO_BANDWIDTH} --downtime-limit ${DEMO_DOWNTIME_LIMIT} (and the same --device and --memory options)\n\n`);
    const options = parseMigrateOptions([address, '--max-bandwidth', DEMO_BANDWIDTH, '--downtime-limit', DEMO_DOWNTIME_LIMIT, ...devices]);
    const source = await migrate(options, new CliEvents(out, 'demo', 'text'), out.interrupt);
    const code = await destination.exit;
    const received = await destination.summary;
    if (source.exitCode !== 0 || code !== 0 || !received || !source.summary) {
      out.stderr(`savevm demo: FAILED (source exit ${source.exitCode}, destination exit ${code})\n${destinationErrors.join('')}`);
      return ExitCode.FAILED;
    }
    return compareDevices(source.summary, received, out);
  } catch (err) {
    out.stderr(`savevm demo: FAILED: ${(err as Error).message}\n${destinationErrors.join('')}`);
    return ExitCode.FAILED;
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

/** The demo's own check: both sides' digests, device by device, the RAM included. */
function compareDevices(source: MigrationSummary, destination: MigrationSummary, out: CliOutput): number {
  out.stdout('\ndestination (checked before it started the VM, so within the downtime):\n');
  let ok = true;
  for (const sent of source.devices) {
    const got = destination.devices.find((d) => d.idstr === sent.idstr);
    const same = got?.sha256 !== undefined && got.sha256 === sent.sha256 && got.verified === true;
    ok &&= same;
    const name = sent.device.split(',')[0];
    out.stdout(
      `  ${name}  ${same ? 'bytes equal the source' : 'MISMATCH'}: sha256 ${got?.sha256?.slice(0, 16) ?? '-'}… (source ${sent.sha256?.slice(0, 16) ?? '-'}…), now ${got?.deviceState ?? '?'}\n`,
    );
  }
  out.stdout(ok ? '\ndemo OK: every device and the RAM arrived byte for byte\n' : '\ndemo FAILED: device bytes differ\n');
  return ok ? ExitCode.OK : ExitCode.FAILED;
}

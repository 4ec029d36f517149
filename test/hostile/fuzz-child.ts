/**
 * Child of the fuzz suite (fuzz.test.ts): runs one target's property with fast-check under
 * the parent's heap cap and watchdog, and prints one JSON line `{ ok, runs, failure? }`.
 * Every case must end with a typed error or a result, within `caseMs`, and no message may
 * carry a raw control character (see `docs/design/hostile-input.md`, "Proof").
 */
import fc from 'fast-check';
import { inspectStream } from '@savevm/inspect';
import { decodeDeviceBody } from '@savevm/inspect';
import {
  MemoryReadChannel,
  MemoryWriteChannel,
  QemuFileReader,
  QemuFileWriter,
  StreamError,
  VmdescError,
  hasRawControlCharacters,
  parseVmDescription,
  type VmdescDevice,
} from '@savevm/stream';
import {
  MigrationBlockers,
  MigrationDestination,
  MigrationError,
  MigrationNotifiers,
  MigrationSource,
  RunState,
  RunStateController,
  SaveStateRegistry,
  type SaveVMHandlers,
} from '@savevm/core';
import { readFileSync } from 'node:fs';
import { readChildInput } from './bounded-child.js';

interface Input {
  readonly target: 'stream-reader' | 'vmdesc' | 'destination';
  readonly seed: number;
  readonly runs: number;
  readonly caseMs: number;
}

const input = await readChildInput<Input>();

/** A mutation of some bytes: flips, a cut, an insertion, a 32-bit overwrite with an extreme value. */
const mutation = (length: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(length - 1), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(length) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(length), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('be32' as const), at: fc.nat(Math.max(0, length - 4)), value: fc.constantFrom(0, 0x7fffffff, 0xffffffff, 0x100000, 0xff) }),
  );
type Mutation = ReturnType<typeof mutation> extends fc.Arbitrary<infer M> ? M : never;

function apply(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    if (m.kind === 'flip' && m.at < b.length) b[m.at] = (b[m.at] as number) ^ m.xor;
    else if (m.kind === 'cut') b = b.subarray(0, Math.min(m.at, b.length));
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, m.at), Buffer.from(m.bytes), b.subarray(m.at)]);
    else if (m.kind === 'be32' && m.at + 4 <= b.length) b.writeUInt32BE(m.value, m.at);
  }
  return b;
}

/** Runs one case: it must end in time, with a result or an error of the given kinds, and clean text. */
async function bounded(run: () => Promise<unknown>, allowed: (err: unknown) => boolean): Promise<void> {
  const started = Date.now();
  let text = '';
  try {
    const out = await run();
    text = JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
  } catch (err) {
    if (!allowed(err)) throw err;
    text = err instanceof Error ? err.message : String(err);
  }
  const ms = Date.now() - started;
  if (ms > input.caseMs) throw new Error(`a case took ${ms} ms (limit ${input.caseMs})`);
  // JSON output escapes C0 itself; the message text must carry no raw control either.
  if (hasRawControlCharacters(text)) throw new Error(`raw control character in output: ${JSON.stringify(text.slice(0, 200))}`);
}

/** QEMU's own streams shipped in test/fixtures (packages/stream's test vectors). */
const fixture = (version: string, name: string): Buffer => readFileSync(new URL(`../fixtures/qemu-${version}/${name}.mig`, import.meta.url));
const corpus = [
  ...['none-paused', 'none-running', 'pc-paused', 'pc-running'].map((n) => fixture('7.2', n)),
  ...['none-paused', 'pc-paused', 'q35-paused'].map((n) => fixture('10.0', n)),
];
const isStreamError = (err: unknown): boolean => err instanceof StreamError;

/** A device whose state is a counted name, a be32 count and that many bytes. */
class Blob implements SaveVMHandlers {
  loaded: Buffer = Buffer.alloc(0);
  constructor(private readonly state: Buffer) {}
  saveState(f: QemuFileWriter): void {
    f.putCountedString('blob');
    f.putBe32(this.state.length);
    f.putBuffer(this.state);
  }
  async loadState(f: QemuFileReader): Promise<void> {
    await f.getCountedString('a name');
    const n = await f.getBe32('a length');
    if (n > 4096) throw new RangeError(`blob of ${n} bytes`);
    this.loaded = await f.getBytes(n, 'the blob');
  }
}

function registryOf(): SaveStateRegistry {
  const registry = new SaveStateRegistry();
  for (let i = 0; i < 8; i++) registry.register(`blob${i}`, 0, 1, new Blob(Buffer.alloc(64 + i, i)));
  return registry;
}

async function destinationStream(): Promise<Buffer> {
  const registry = registryOf();
  const source = new MigrationSource({ registry, runState: new RunStateController(RunState.RUNNING), blockers: new MigrationBlockers(), notifiers: new MigrationNotifiers() });
  const channel = new MemoryWriteChannel();
  await source.migrate(new QemuFileWriter(channel), { maxBandwidth: 0 });
  return channel.bytes();
}

let property: fc.IAsyncProperty<[unknown, ...unknown[]]>;
switch (input.target) {
  case 'stream-reader': {
    const pick = fc.nat(corpus.length - 1).chain((i) => {
      const bytes = corpus[i] as Buffer;
      return fc.tuple(fc.constant(i), fc.array(mutation(bytes.length), { minLength: 1, maxLength: 4 }));
    });
    property = fc.asyncProperty(pick, async ([i, ms]) => {
      const bytes = apply(corpus[i as number] as Buffer, ms as Mutation[]);
      await bounded(() => inspectStream(bytes).then((r) => ({ records: r.records.length, warnings: r.warnings })), isStreamError);
    }) as fc.IAsyncProperty<[unknown, ...unknown[]]>;
    break;
  }
  case 'vmdesc': {
    const count = fc.oneof(fc.constantFrom(0, 1, 2, 1 << 20, 2 ** 31, -1, 1.5), fc.nat(64));
    const leaf = fc.record({ name: fc.string(), type: fc.constantFrom('uint8', 'uint32', 'int64', 'bool', 'buffer'), size: count, array_len: fc.option(count, { nil: undefined }) });
    const field: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      field: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.record({ name: fc.string(), type: fc.constant('struct'), size: count, array_len: fc.option(count, { nil: undefined }), struct: tie('struct') }),
      ),
      struct: fc.record({ vmsd_name: fc.string(), version: fc.nat(), fields: fc.array(tie('field'), { maxLength: 4 }) }),
    })).field;
    const doc = fc.record({ page_size: fc.constant(4096), devices: fc.array(fc.record({ name: fc.string(), instance_id: fc.nat(), fields: fc.array(field, { maxLength: 4 }) }), { maxLength: 3 }) });
    property = fc.asyncProperty(doc, fc.uint8Array({ maxLength: 256 }), async (d, body) => {
      await bounded(async () => {
        const parsed = parseVmDescription(JSON.stringify(d));
        const decoded: unknown[] = [];
        for (const device of parsed.devices) {
          const r = new QemuFileReader(new MemoryReadChannel(Buffer.from(body)));
          try {
            decoded.push(await decodeDeviceBody(r, device as VmdescDevice));
          } catch (err) {
            if (!isStreamError(err)) throw err;
          }
        }
        return decoded.length;
      }, (err) => err instanceof VmdescError);
    }) as fc.IAsyncProperty<[unknown, ...unknown[]]>;
    break;
  }
  case 'destination': {
    const good = await destinationStream();
    const pick = fc.array(mutation(good.length), { minLength: 1, maxLength: 4 });
    property = fc.asyncProperty(pick, async (ms) => {
      const bytes = apply(good, ms);
      await bounded(async () => {
        const destination = new MigrationDestination({ registry: registryOf(), runState: new RunStateController(RunState.INMIGRATE) });
        const info = await destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { machine: 'none' });
        return info.status;
      }, (err) => err instanceof MigrationError);
    }) as fc.IAsyncProperty<[unknown, ...unknown[]]>;
    break;
  }
}

const details = await fc.check(property, { seed: input.seed, numRuns: input.runs, endOnFailure: true });
process.stdout.write(
  `${JSON.stringify({ ok: !details.failed, runs: details.numRuns, failure: details.failed ? `${String(details.errorInstance)} counterexample ${JSON.stringify(details.counterexample)?.slice(0, 500)}` : undefined })}\n`,
);

import { QemuFileWriter, StreamFormatError, StreamIoError, StreamTruncatedError, type WriteChannel } from '@savevm/stream';
import { describe, expect, it } from 'vitest';
import {
  MigrationError,
  MigrationErrorReason,
  RunState,
  VmStateLoadError,
  isMigrationErrorReason,
  reasonOf,
  type SaveVMHandlers,
} from '../src/index.js';
import { detailOf } from '../src/errors.js';
import { BlobDevice } from './helpers/devices.js';
import { World, readerOf, saveToMemory } from './helpers/world.js';

function vmstateError(reason: VmStateLoadError['reason'], cause?: unknown): VmStateLoadError {
  return new VmStateLoadError({ reason, offset: 7, description: 'dev', detail: 'refused', cause });
}

describe('reasonOf: the reason a thrown value stands for', () => {
  it('a MigrationError keeps its reason', () => {
    expect(reasonOf(new MigrationError({ phase: 'iterate', reason: 'TIMEOUT', detail: 'x' }), 'DEVICE_FAILED')).toBe('TIMEOUT');
  });

  it('stream errors: truncation, grammar, I/O (CONNECT_FAILED unless the channel error says more)', () => {
    expect(reasonOf(new StreamTruncatedError(3, 'a byte'), 'DEVICE_FAILED')).toBe('TRUNCATED');
    expect(reasonOf(new StreamFormatError('BAD_MAGIC', 0, 'bad magic'), 'DEVICE_FAILED')).toBe('BAD_STREAM');
    expect(reasonOf(new StreamIoError(9, 'write failed', Object.assign(new Error('EPIPE'), { code: 'EPIPE' })), 'INTERNAL')).toBe('CONNECT_FAILED');
    const timedOut = new MigrationError({ phase: 'transfer', reason: 'TIMEOUT', detail: 'no bytes moved' });
    expect(reasonOf(new StreamIoError(9, 'write failed', timedOut), 'INTERNAL')).toBe('TIMEOUT');
  });

  it('vmstate load errors by their reason; a failed hook by its own cause, else the fallback', () => {
    expect(reasonOf(vmstateError('VERSION_TOO_NEW'), 'DEVICE_FAILED')).toBe('VERSION_TOO_NEW');
    expect(reasonOf(vmstateError('VERSION_TOO_OLD'), 'DEVICE_FAILED')).toBe('BAD_STREAM');
    expect(reasonOf(vmstateError('UNKNOWN_SUBSECTION'), 'DEVICE_FAILED')).toBe('BAD_STREAM');
    expect(reasonOf(vmstateError('LENGTH_TOO_LARGE'), 'DEVICE_FAILED')).toBe('BAD_STREAM');
    expect(reasonOf(vmstateError('TRUNCATED'), 'DEVICE_FAILED')).toBe('TRUNCATED');
    expect(reasonOf(vmstateError('NO_STATE_OBJECT'), 'INTERNAL')).toBe('DEVICE_FAILED');
    expect(reasonOf(vmstateError('HOOK_FAILED', new Error('no')), 'DEVICE_FAILED')).toBe('DEVICE_FAILED');
    expect(reasonOf(vmstateError('HOOK_FAILED', new StreamTruncatedError(1, 'x')), 'DEVICE_FAILED')).toBe('TRUNCATED');
  });

  it('follows the cause chain; an error carrying a known code as `reason` keeps it; anything else: the fallback', () => {
    expect(reasonOf(new Error('wrapped', { cause: vmstateError('VERSION_TOO_NEW') }), 'DEVICE_FAILED')).toBe('VERSION_TOO_NEW');
    expect(reasonOf(Object.assign(new Error('bad bytes'), { reason: 'BAD_STREAM' }), 'DEVICE_FAILED')).toBe('BAD_STREAM');
    expect(reasonOf(Object.assign(new Error('other'), { reason: 'not a code' }), 'DEVICE_FAILED')).toBe('DEVICE_FAILED');
    expect(reasonOf('a string', 'INTERNAL')).toBe('INTERNAL');
    expect(reasonOf(undefined, 'INTERNAL')).toBe('INTERNAL');
  });

  it('isMigrationErrorReason knows exactly the codes', () => {
    for (const code of Object.values(MigrationErrorReason)) expect(isMigrationErrorReason(code)).toBe(true);
    expect(isMigrationErrorReason('HOOK_FAILED')).toBe(false);
    expect(isMigrationErrorReason(undefined)).toBe(false);
  });
});

describe('byte offsets are stated once', () => {
  it('detailOf drops the offset a stream error message starts with', () => {
    const err = new StreamTruncatedError(42, 'a byte');
    expect(err.message).toBe('at byte offset 42: stream truncated while reading a byte');
    expect(detailOf(err)).toBe('stream truncated while reading a byte');
    expect(detailOf(new Error('plain'))).toBe('plain');
  });

  it('a hook that reads past the end: TRUNCATED, the offset once', async () => {
    const src = new World(RunState.RUNNING);
    src.registry.register('dev', 0, 1, new BlobDevice(Buffer.from('0123456789')));
    const { bytes } = await saveToMemory(src);
    const cut = bytes.indexOf(Buffer.from('0123456789')) + 4;
    const dst = new World(RunState.INMIGRATE);
    dst.registry.register('dev', 0, 1, new BlobDevice(Buffer.alloc(0)));
    const error = (await dst.destination.load(readerOf(bytes.subarray(0, cut))).catch((e: unknown) => e)) as MigrationError;
    expect(error).toBeInstanceOf(MigrationError);
    expect(error.hook).toBe('loadState');
    expect(error.reason).toBe('TRUNCATED');
    expect(error.message.match(/byte offset/g)).toHaveLength(1);
    expect(error.detail).not.toMatch(/byte offset/);
  });
});

describe('a hook decides its reason by what it throws', () => {
  async function loadFailingWith(thrown: unknown): Promise<MigrationError> {
    const src = new World(RunState.RUNNING);
    src.registry.register('dev', 0, 1, new BlobDevice(Buffer.from('state')));
    const { bytes } = await saveToMemory(src);
    const dst = new World(RunState.INMIGRATE);
    const failing: SaveVMHandlers = {
      loadState: () => {
        throw thrown;
      },
    };
    dst.registry.register('dev', 0, 1, failing);
    const error = await dst.destination.load(readerOf(bytes)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    return error as MigrationError;
  }

  it('a plain Error → DEVICE_FAILED, with the error as cause', async () => {
    const thrown = new Error('device said no');
    const e = await loadFailingWith(thrown);
    expect(e.reason).toBe('DEVICE_FAILED');
    expect(e.cause).toBe(thrown);
  });

  it('a VmStateLoadError VERSION_TOO_NEW → VERSION_TOO_NEW', async () => {
    expect((await loadFailingWith(vmstateError('VERSION_TOO_NEW'))).reason).toBe('VERSION_TOO_NEW');
  });

  it('a MigrationError with a reason keeps it', async () => {
    const e = await loadFailingWith(new MigrationError({ phase: 'load-state', reason: 'BAD_STREAM', detail: 'bad magic in my body' }));
    expect(e.reason).toBe('BAD_STREAM');
    expect(e.hook).toBe('loadState');
  });
});

/** A channel whose writes fail as a closed socket's do. */
class BrokenPipe implements WriteChannel {
  writev(): Promise<void> {
    return Promise.reject(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

describe('the source', () => {
  it('a stream that cannot be written (EPIPE) → CONNECT_FAILED, the channel error as cause', async () => {
    const src = new World(RunState.RUNNING);
    src.registry.register('dev', 0, 1, new BlobDevice(Buffer.from('state')));
    const error = (await src.source.migrate(new QemuFileWriter(new BrokenPipe()), { maxBandwidth: 0 }).catch((e: unknown) => e)) as MigrationError;
    expect(error).toBeInstanceOf(MigrationError);
    expect(error.reason).toBe('CONNECT_FAILED');
    expect(error.errno).toBe('EPIPE');
    expect(error.cause).toBeInstanceOf(StreamIoError);
    expect(src.runState.state).toBe(RunState.RUNNING);
  });
});

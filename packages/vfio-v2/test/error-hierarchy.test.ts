/**
 * The one error hierarchy of docs/design/errors.md: an error of each family is a
 * `MigrationError` with a reason code and an errno name, or a documented cause from which
 * `reasonOf` derives a reason and whose errno is a name. (vfio-v2 sees every package below
 * the session, so the whole table is checked here.)
 */
import { describe, expect, it } from 'vitest';
import {
  MigrationCancelledError,
  MigrationError,
  MultifdChannelError,
  NoHandlerProviderError,
  RegistrationError,
  VmStateDefinitionError,
  VmStateLoadError,
  errnoNameOf,
  isMigrationErrorReason,
  reasonOf,
} from '@savevm/core';
import { QemuVmstateDumpError } from '@savevm/core/qemu-vmstate';
import { RamBlockError, RamLoadError } from '@savevm/ram';
import { StreamFormatError, StreamIoError, StreamTruncatedError, VmdescError } from '@savevm/stream';
import { MultifdPacketError } from '@savevm/stream/multifd';
import { CapabilityChainError, Errno, VfioError, VfioSyscallError, isErrno } from '@savevm/vfio';
import { VfioMultifdError, VfioStateTransitionError, VfioV2MigrationError } from '../src/index.js';

const ERRNO_NAME = /^E[A-Z0-9]+$/;

/** A MigrationError of the table: its reason is a code, its errno (when it has one) a name. */
function expectMigrationError(error: MigrationError, reason: string, errno: string | undefined): void {
  expect(error).toBeInstanceOf(MigrationError);
  expect(isMigrationErrorReason(error.reason)).toBe(true);
  expect(error.reason).toBe(reason);
  expect(error.errno).toBe(errno);
  if (error.errno !== undefined) expect(error.errno).toMatch(ERRNO_NAME);
}

describe('MigrationError subclasses carry a reason and an errno name', () => {
  it('core', () => {
    expectMigrationError(new MigrationCancelledError('iterate'), 'CANCELLED', 'ECANCELED');
    expectMigrationError(new MultifdChannelError(1, { phase: 'multifd', reason: 'TRUNCATED', detail: 'closed', cause: new StreamTruncatedError(8, 'a packet') }), 'TRUNCATED', 'EIO');
    const registration = new RegistrationError('duplicate entry');
    expectMigrationError(registration, 'INVALID_ARGUMENT', 'EINVAL');
    expect(registration).toMatchObject({ phase: 'register', message: 'duplicate entry' });
    const noProvider = new NoHandlerProviderError('gpu', [{ provider: 'vfio-v2', verdict: { accepted: false, reason: 'not a VFIO device' } }]);
    expectMigrationError(noProvider, 'INVALID_ARGUMENT', undefined);
    expect(noProvider.message).toBe('no handler provider accepts gpu: vfio-v2: not a VFIO device');
    const definition = new VmStateDefinitionError('timer', 'version 0');
    expectMigrationError(definition, 'INVALID_ARGUMENT', 'EINVAL');
    expect(definition).toMatchObject({ phase: 'describe', message: 'vmstate timer: version 0' });
    const dump = new QemuVmstateDumpError('fdc.Description', 'not an object');
    expectMigrationError(dump, 'INVALID_ARGUMENT', 'EINVAL');
    expect(dump).toMatchObject({ phase: 'describe', message: 'vmstate dump: fdc.Description: not an object' });
  });

  it('ram', () => {
    const block = new RamBlockError('pc.ram', 'no such block');
    expectMigrationError(block, 'INVALID_ARGUMENT', 'EINVAL');
    expect(block).toMatchObject({ phase: 'register', message: 'RAM block "pc.ram": no such block' });
    expectMigrationError(new RamLoadError({ code: 'UNKNOWN_BLOCK', messages: ['Unknown ramblock "x"'] }), 'BAD_STREAM', 'EINVAL');
  });

  it('vfio-v2', () => {
    const cause = new VfioSyscallError(Errno.EIO, 'read', { device: 'dev', op: 'read data_fd' });
    const v2 = new VfioV2MigrationError({ device: 'dev', phase: 'iterate', operation: 'read data_fd', cause });
    expectMigrationError(v2, 'DEVICE_FAILED', 'EIO');
    expect(v2.cause).toBe(cause);
    expectMigrationError(new VfioMultifdError({ device: 'dev', phase: 'multifd', refusal: 'too-short', detail: 'dev: packet too short' }), 'BAD_STREAM', 'EINVAL');
  });
});

describe('documented causes carry an errno name and stand for a reason', () => {
  it('@savevm/stream: EINVAL for the grammar, EIO for a truncation, the channel errno for I/O', () => {
    const cases: [Error & { errno: string }, string, string][] = [
      [new StreamFormatError('BAD_MAGIC', 0, 'bad magic'), 'BAD_STREAM', 'EINVAL'],
      [new VmdescError(10, 'not JSON'), 'BAD_STREAM', 'EINVAL'],
      [new MultifdPacketError(0, 'bad version'), 'BAD_STREAM', 'EINVAL'],
      [new StreamTruncatedError(4, 'a record'), 'TRUNCATED', 'EIO'],
      [new StreamIoError(4, 'write failed', Object.assign(new Error('broken pipe'), { code: 'EPIPE' })), 'CONNECT_FAILED', 'EPIPE'],
      [new StreamIoError(4, 'write failed', new Error('gone')), 'CONNECT_FAILED', 'EIO'],
    ];
    for (const [error, reason, errno] of cases) {
      expect(reasonOf(error, 'INTERNAL'), error.message).toBe(reason);
      expect(error.errno, error.message).toBe(errno);
      expect(errnoNameOf(error)).toBe(errno);
    }
  });

  it('core vmstate load errors are decoder errors: a reason from their own, errno from the stream code', () => {
    const tooNew = new VmStateLoadError({ reason: 'VERSION_TOO_NEW', offset: 3, description: 'timer', streamVersion: 3, localVersion: 2, detail: 'version 3 > 2' });
    expect(reasonOf(tooNew, 'DEVICE_FAILED')).toBe('VERSION_TOO_NEW');
    expect(tooNew.errno).toBe('EINVAL');
    const truncated = new VmStateLoadError({ reason: 'TRUNCATED', offset: 3, description: 'timer', detail: 'ended' });
    expect(reasonOf(truncated, 'DEVICE_FAILED')).toBe('TRUNCATED');
    expect(truncated.errno).toBe('EIO');
  });

  it('@savevm/vfio: errno is the name, the number is errnoNumber; a migration reports DEVICE_FAILED', () => {
    const syscall = new VfioSyscallError(Errno.ENOTTY, 'ioctl', { device: 'dev', op: 'VFIO_DEVICE_FEATURE' });
    expect(syscall).toBeInstanceOf(VfioError);
    expect(syscall).toMatchObject({ errno: 'ENOTTY', errnoNumber: Errno.ENOTTY, code: 'ENOTTY' });
    expect(isErrno(syscall, 'ENOTTY') && isErrno(syscall, Errno.ENOTTY)).toBe(true);
    expect(errnoNameOf(syscall)).toBe('ENOTTY');
    expect(reasonOf(syscall, 'DEVICE_FAILED')).toBe('DEVICE_FAILED');
    const chain = new CapabilityChainError('capability chain loops at 32', 32);
    expect(chain).toBeInstanceOf(VfioError);
    expect(chain).toMatchObject({ errno: 'EINVAL', message: 'capability chain loops at 32' });
  });

  it('vfio-v2 state transitions: errno the kernel name, EBADF when out of sync', () => {
    const failed = new VfioStateTransitionError({
      device: 'dev',
      from: 2,
      target: 3,
      recover: 2,
      outcome: 'recovered',
      landedIn: 2,
      cause: new VfioSyscallError(Errno.EBUSY, 'ioctl', { device: 'dev', op: 'SET MIG_DEVICE_STATE' }),
    });
    expect(failed.errno).toBe('EBUSY');
    expect(reasonOf(failed, 'DEVICE_FAILED')).toBe('DEVICE_FAILED');
    expect(new VfioStateTransitionError({ device: 'dev', from: 2, target: 3, recover: 2, outcome: 'out-of-sync', landedIn: 3 }).errno).toBe('EBADF');
  });
});

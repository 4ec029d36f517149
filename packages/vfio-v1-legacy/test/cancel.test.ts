import { describe, expect, it } from 'vitest';
import { MigrationCancelledError, RunState, type SaveVMHandlers } from '@savevm/core';
import { V1State } from '@savevm/vfio';
import { LIVE, World, processFdCount, saveToMemory, snapshot, v1Device } from './helpers/world.js';

type CancelPoint = 'save-setup' | 'iterate' | 'switchover' | 'complete-precopy';

/** An entry registered after the VFIO device that cancels the migration when it reaches `point`. */
function canceller(world: World, point: CancelPoint): { handlers: SaveVMHandlers; dispose(): void } {
  const cancel = (): void => {
    world.source.cancel();
  };
  // Lower priority: on stop it runs after the device's handler (descending order).
  const registration =
    point === 'switchover' ? world.runState.addChangeHandler({ change: (running) => (running ? undefined : cancel()) }, { priority: -1, name: 'canceller' }) : undefined;
  const handlers: SaveVMHandlers = {
    saveSetup: () => (point === 'save-setup' ? cancel() : undefined),
    statePendingEstimate: () => ({ mustPrecopy: 0, canPostcopy: 0 }),
    saveLiveIterate: () => {
      if (point === 'iterate') cancel();
      return true;
    },
    saveLiveCompletePrecopy: () => (point === 'complete-precopy' ? cancel() : undefined),
  };
  return { handlers, dispose: () => registration?.dispose() };
}

describe('cancel in each phase: the source device is RUNNING, its state intact, no fd leaked', () => {
  for (const point of ['save-setup', 'iterate', 'switchover', 'complete-precopy'] as const) {
    it(`cancelled during ${point}`, async () => {
      const world = new World();
      const { device, model, kernel } = v1Device({ name: 'dev' });
      const fdsBefore = processFdCount();
      const kernelFdsBefore = kernel.openFds();
      await world.attacher.attach(device, 'dev');
      const cancelling = canceller(world, point);
      const cancelEntry = world.registry.register('canceller', 0, 1, cancelling.handlers);
      const before = snapshot(model.stateBytes);

      const error = await saveToMemory(world, LIVE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationCancelledError);
      // A cancel during the stop is noticed at the next check, at the start of completion.
      expect((error as MigrationCancelledError).cancelledDuring).toBe(point === 'switchover' ? 'complete-precopy' : point);
      expect(world.source.info.status).toBe('cancelled');
      expect(world.runState.state).toBe(RunState.RUNNING);
      expect(model.v1State).toBe(V1State.RUNNING);
      expect(model.session).toBeUndefined();
      expect(snapshot(model.stateBytes)).toEqual(before);
      expect(kernel.openFds()).toEqual(kernelFdsBefore);
      expect(processFdCount()).toBe(fdsBefore);

      // The device migrates fine afterwards.
      world.registry.unregister(cancelEntry);
      cancelling.dispose();
      await saveToMemory(world, LIVE);
      expect(model.v1State).toBe(V1State.STOP);
    });
  }
});

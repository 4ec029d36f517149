import { MigState, type VfioDataFile } from '../src/index.js';
import { createEmulatedDevice, type EmulatedDeviceConfig } from '../src/emulated/index.js';

/** Reads a saving data file to the end (or until `stopOnNoData` and nothing is available). */
export async function drain(file: VfioDataFile, stopOnNoData = false, chunk = 4096): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(chunk);
  for (;;) {
    const r = await file.read(buf);
    if (r.kind === 'data') parts.push(buf.slice(0, r.bytes));
    else if (r.kind === 'no-data-yet' && stopOnNoData) break;
    else if (r.kind === 'no-data-yet') continue;
    else break;
  }
  return Buffer.concat(parts);
}

/** A complete STOP_COPY image of a fresh device with this config. */
export async function stopCopyImage(config: EmulatedDeviceConfig): Promise<Uint8Array> {
  const { device } = createEmulatedDevice(config);
  device.setState(MigState.STOP);
  const { dataFile } = device.setState(MigState.STOP_COPY);
  if (dataFile === undefined) throw new Error('no data file');
  const image = await drain(dataFile);
  device.close();
  return image;
}

/**
 * The example migrator: the `savevm` command line.
 * @packageDocumentation
 */
export { main, USAGE, type CliOutput } from './cli.js';
export { runInspect, toJsonRecord, formatRecordText, type InspectJsonRecord } from './commands/inspect-command.js';
export type { QemuSectionJson, QemuStructJson, QemuFieldJson, QemuValueJson } from './commands/qemu-vmstate-format.js';

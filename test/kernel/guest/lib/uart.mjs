// uart.mjs — guest helpers for the mtty sample's emulated 16550 UARTs, through a @savevm/vfio
// VfioDevice: port N is BAR N (region index N, 8 bytes, one byte per register). mtty handles one
// register per access, so every access here is a single-byte pread/pwrite. Writing TX (offset 0)
// puts a byte into the port's loopback FIFO; reading RX (offset 0) takes one out.
export const UART_RX = 0; // read: receive buffer; write: transmit (TX)
export const UART_LCR = 3; // line control
export const UART_MCR = 4; // modem control
export const UART_LSR = 5; // line status (bit 0: data ready)
export const UART_SCR = 7; // scratch
export const UART_LSR_DR = 0x01;

const regionCache = new WeakMap();

/** Region info of BAR `port` (cached per device). */
export function portRegion(device, port) {
  let regions = regionCache.get(device);
  if (!regions) regionCache.set(device, (regions = new Map()));
  if (!regions.has(port)) regions.set(port, device.getRegionInfo(port));
  return regions.get(port);
}

/** Writes one register byte. */
export function writeReg(device, port, offset, value) {
  const n = device.writeRegion(portRegion(device, port), offset, Uint8Array.of(value));
  if (n !== 1) throw new Error(`pwrite of UART register ${offset} wrote ${n} bytes`);
}

/** Reads one register byte. */
export function readReg(device, port, offset) {
  const byte = new Uint8Array(1);
  const n = device.readRegion(portRegion(device, port), offset, byte);
  if (n !== 1) throw new Error(`pread of UART register ${offset} read ${n} bytes`);
  return byte[0];
}

/** Transmits `text` (each byte goes into the loopback FIFO). */
export function transmit(device, port, text) {
  for (const byte of Buffer.from(text, 'latin1')) writeReg(device, port, UART_RX, byte);
}

/** Receives bytes while LSR says data is ready (at most `max`); returns them as a string. */
export function receiveAll(device, port, max = 64) {
  let text = '';
  while (text.length < max && (readReg(device, port, UART_LSR) & UART_LSR_DR) !== 0) {
    text += String.fromCharCode(readReg(device, port, UART_RX));
  }
  return text;
}

/** The registers a migration must carry, without draining the FIFO: { lcr, mcr, scr, dataReady }. */
export function peekRegisters(device, port) {
  return {
    lcr: readReg(device, port, UART_LCR),
    mcr: readReg(device, port, UART_MCR),
    scr: readReg(device, port, UART_SCR),
    dataReady: (readReg(device, port, UART_LSR) & UART_LSR_DR) !== 0,
  };
}

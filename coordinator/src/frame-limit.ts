// frame-limit.ts — the size limit of one site socket's frames: small until the site authenticates, the full limit after.
import type { WebSocket } from 'ws';
import { CoordinatorError } from './errors.ts';

/**
 * ws keeps the payload limit of each socket on its receiver (`_receiver._maxPayload`, ws 8) and checks it when a frame
 * header announces its length, before any byte of the payload is buffered. ws has no public way to change it per
 * socket, so this module is the one place that reaches it; a ws without that field fails here, loudly, at the first
 * connection (and in site-hub.test.ts), never silently with the larger limit.
 */
interface ReceiverInternals {
  _maxPayload: number;
  prependListener(event: 'error', listener: (error: Error & { code?: string }) => void): unknown;
}

function receiverOf(socket: WebSocket): ReceiverInternals {
  const receiver = (socket as unknown as { _receiver?: Partial<ReceiverInternals> })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number' || typeof receiver.prependListener !== 'function') {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'this version of ws keeps no per-socket payload limit (_receiver._maxPayload)');
  }
  return receiver as ReceiverInternals;
}

/** Sets the largest frame (more exactly, message) `socket` accepts from now on, in bytes. */
export function setFrameLimit(socket: WebSocket, bytes: number): void {
  receiverOf(socket)._maxPayload = bytes;
}

/**
 * Calls `onTooLarge` when a frame over the limit is announced, while the socket is still open (before ws closes it
 * with 1009), so the caller can send its coded error first. The payload is never read into memory.
 */
export function onFrameTooLarge(socket: WebSocket, onTooLarge: () => void): void {
  receiverOf(socket).prependListener('error', (error) => {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') onTooLarge();
  });
}

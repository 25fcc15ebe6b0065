// scale-memory-probe.ts — preloaded into the scale bench's coordinator (node --import) when FEDVAL_SCALE_MEMORY_PROBE names a
// file: samples the process's memory by category every few milliseconds and writes, at each phase mark, where its resident
// memory stood at its highest point since the previous mark. Not part of the coordinator; the bench alone loads it.
//
// Categories at the sample of highest RSS (MiB): rss; V8 heap reserved (heap_total) and used (heap_used), per heap space
// (physical size: new_space is the young generation, old_space what survived it, large_object_space objects over ~128 kB);
// external (memory outside the heap that V8 objects hold: Buffers, ArrayBuffers, WebAssembly memory — node-seal's heap)
// and of it array_buffers; native = rss − heap_total − external (code, libraries, malloc'd memory: SQLite, TLS, ws
// sockets). Also each category's own maximum (not necessarily at the RSS peak), and at the RSS peak the bytes waiting in
// the process's TCP sockets' write buffers (net.Socket writableLength, summed) and how many sockets there were.
// Each phase also gives when its RSS peaked (peak_at_s, seconds from the phase's start) and its RSS every 0.5 s (rss_every_half_s).
// SIGUSR2 closes a phase: the probe appends one JSON line to the file and starts the next phase from the current sample.
import { appendFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { getHeapSpaceStatistics } from 'node:v8';

const OUT = process.env.FEDVAL_SCALE_MEMORY_PROBE;
const EVERY_MS = 5; // sampling period; the event loop delays samples under load, so a peak can be missed by a turn or so

if (OUT) {
  const MiB = 1024 * 1024;
  const sockets = new Set<Socket>();
  const write = Socket.prototype.write;
  // Every socket that writes is tracked until it closes, to sum the bytes its user-space write buffer holds.
  Socket.prototype.write = function trackedWrite(this: Socket, ...args: Parameters<Socket['write']>) {
    if (!sockets.has(this)) {
      sockets.add(this);
      this.once('close', () => sockets.delete(this));
    }
    return write.apply(this, args);
  } as Socket['write'];

  type Sample = Record<string, number>;
  const sample = (): Sample => {
    const usage = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [`${space.space_name}_mib`, space.physical_space_size / MiB]));
    let buffered = 0;
    for (const socket of sockets) buffered += socket.writableLength;
    return {
      rss_mib: usage.rss / MiB,
      heap_total_mib: usage.heapTotal / MiB,
      heap_used_mib: usage.heapUsed / MiB,
      external_mib: usage.external / MiB,
      array_buffers_mib: usage.arrayBuffers / MiB,
      native_mib: (usage.rss - usage.heapTotal - usage.external) / MiB,
      ...spaces,
      socket_write_buffered_mib: buffered / MiB,
      sockets: sockets.size,
    };
  };
  const round = (values: Sample): Sample => Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Math.round(value * 10) / 10]));
  let atPeak = sample();
  let maxima: Sample = { ...atPeak };
  let started = performance.now();
  let peakAt = 0;
  let series: number[] = [];
  const timer = setInterval(() => {
    const now = sample();
    const elapsed = performance.now() - started;
    const slot = Math.floor(elapsed / 500);
    series[slot] = Math.max(series[slot] ?? 0, Math.round(now.rss_mib!));
    if (now.rss_mib! > atPeak.rss_mib!) {
      atPeak = now;
      peakAt = elapsed;
    }
    for (const [key, value] of Object.entries(now)) if (value > (maxima[key] ?? -Infinity)) maxima[key] = value;
  }, EVERY_MS);
  timer.unref();
  process.on('SIGUSR2', () => {
    const rssEveryHalfSecond = Array.from(series, (value) => value ?? null);
    appendFileSync(OUT, `${JSON.stringify({ peak_at_s: Math.round(peakAt / 100) / 10, at_rss_peak: round(atPeak), maxima: round(maxima), rss_every_half_s: rssEveryHalfSecond })}\n`);
    atPeak = sample();
    maxima = { ...atPeak };
    started = performance.now();
    peakAt = 0;
    series = [];
  });
}

import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLineSchema } from '@fedval/command-line';
import { LogDestination } from './log-destination.ts';

describe('log destination', () => {
  it('writes lines in order and drains', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fedval-log-')), 'log');
    const fd = openSync(file, 'w');
    const destination = new LogDestination(fd);
    for (let i = 0; i < 100; i += 1) destination.write(`line ${i}\n`);
    await destination.drain(5_000);
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe(Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
  });

  it('holds at most maxBytes while a write is in flight, drops and counts the rest, then says how many it dropped', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fedval-log-')), 'log');
    const fd = openSync(file, 'w');
    const destination = new LogDestination(fd, 100);
    const line = (i: number): string => `${String(i).padStart(38, '.')}\n`; // 39 bytes
    const accepted = Array.from({ length: 6 }, (_, i) => destination.write(line(i)));
    // The first line is handed to the write at once; two more fit in 100 bytes; the other three are dropped.
    expect(accepted).toEqual([true, true, true, false, false, false]);
    expect(destination.dropped).toBe(3);
    await destination.drain(5_000);
    closeSync(fd);
    const written = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(written.slice(0, 1)).toEqual([line(0).trim()]);
    expect(logLineSchema.parse(JSON.parse(written[1]!))).toMatchObject({ level: 'warn', component: 'fedval-agent', msg: 'log lines dropped: the log reader did not keep up', dropped: 3 });
    expect(written.slice(2)).toEqual([line(1).trim(), line(2).trim()]);
  });
});

// The bound on results in flight: reading pauses when the limit is reached and resumes as soon as one is stored.
import { describe, expect, it } from 'vitest';
import { ResultIntake } from './result-intake.ts';

function recorder(): { calls: string[]; pauseReading(): void; resumeReading(): void } {
  const calls: string[] = [];
  return { calls, pauseReading: () => calls.push('pause'), resumeReading: () => calls.push('resume') };
}

function deferred(): { promise: Promise<void>; resolve(): void; reject(error: Error): void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ResultIntake', () => {
  it('pauses reading at the limit and resumes when one result is stored, whether its write succeeded or failed', async () => {
    const reading = recorder();
    const intake = new ResultIntake(reading, 2);
    const first = deferred();
    const second = deferred();
    intake.track(first.promise);
    expect(reading.calls).toEqual([]);
    intake.track(second.promise);
    expect(reading.calls).toEqual(['pause']);
    expect(intake.inFlight).toBe(2);
    second.reject(new Error('store failed')); // a failed write leaves the budget too, and is not an unhandled rejection
    await turn();
    expect(reading.calls).toEqual(['pause', 'resume']);
    expect(intake.inFlight).toBe(1);
    first.resolve();
    await turn();
    expect(intake.inFlight).toBe(0);
  });

  it('with a limit of one, pauses for every result until it is stored', async () => {
    const reading = recorder();
    const intake = new ResultIntake(reading, 1);
    for (let i = 0; i < 3; i += 1) {
      const stored = deferred();
      intake.track(stored.promise);
      expect(reading.calls.at(-1)).toBe('pause');
      stored.resolve();
      await turn();
      expect(reading.calls.at(-1)).toBe('resume');
    }
    expect(reading.calls).toEqual(['pause', 'resume', 'pause', 'resume', 'pause', 'resume']);
  });
});

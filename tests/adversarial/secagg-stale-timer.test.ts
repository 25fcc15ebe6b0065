// A coordinator that cancels a securely aggregated round and sends it again so that the first attempt's deadline timer
// fires during the second attempt (review of s6-secagg-resume, HIGH 1): that timer forgot the round's session, the
// second attempt read it back from the table, found none and sent its contribution with no mask. The agent now keeps
// one timer per round (cleared by a new attempt) that forgets only the session it was armed for, and each attempt uses
// the session it made; driven here with fake timers, deterministically, on the table the task pipeline keeps.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SecaggRoundTable } from '../../site-agent/src/secure-aggregation-round-table.ts';

describe('a round cancelled and sent again across its first attempt’s deadline timer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the later attempt’s session, and runs the wipe once per round timer', () => {
    const wipes: number[] = [];
    const table = new SecaggRoundTable<{ attempt: number }>(() => wipes.push(Date.now()));
    const first = { attempt: 1 };
    table.set('round-1', first);
    // Attempt 1 is cancelled: its timer is armed at its deadline (+ 1 s grace) and its session forgotten.
    table.armDeadline('round-1', first, Date.now() + 4_000);
    table.release('round-1', first);
    // Attempt 2 starts 2 s before that timer would fire, and runs past it.
    vi.advanceTimersByTime(3_000);
    const second = { attempt: 2 };
    table.set('round-1', second);
    vi.advanceTimersByTime(10_000);
    expect(table.get('round-1')).toBe(second);
    expect(wipes).toEqual([]);
    // Attempt 2 ends: its own timer, at its deadline, wipes and forgets it.
    table.armDeadline('round-1', second, Date.now() + 4_000);
    vi.advanceTimersByTime(4_999);
    expect(table.get('round-1')).toBe(second);
    vi.advanceTimersByTime(1);
    expect(table.get('round-1')).toBeUndefined();
    expect(wipes).toEqual([1_000_000 + 13_000 + 5_000]);
  });

  it('forgets, when an attempt ends, only that attempt’s session', () => {
    const table = new SecaggRoundTable<{ attempt: number }>(() => {});
    const first = { attempt: 1 };
    const second = { attempt: 2 };
    table.set('round-1', first);
    table.set('round-1', second);
    table.release('round-1', first);
    expect(table.get('round-1')).toBe(second);
    table.release('round-1', second);
    expect(table.get('round-1')).toBeUndefined();
  });
});

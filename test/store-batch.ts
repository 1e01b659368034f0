/** batched: lookups within the window go in one call; each caller gets its own key's value. */
import t from 'tap';
import { batched } from '../src/store/batch.js';

t.test('one load per window, at most max keys each', async (t) => {
  const calls: number[][] = [];
  const get = batched(async (ids: number[]) => {
    calls.push(ids);
    return new Map(ids.filter((id) => id % 2 === 0).map((id) => [id, id * 10]));
  }, 5, 3);
  const got = await Promise.all([1, 2, 2, 4, 5, 6, 8].map((id) => get(id)));
  t.same(got, [undefined, 20, 20, 40, undefined, 60, 80], 'each caller its own key; unknown keys undefined');
  t.same(calls, [[1, 2, 4], [5, 6, 8]], 'a full batch goes at once, the rest when the window ends; a key asked twice is loaded once');
});

t.test('a failed load rejects every caller of that batch', async (t) => {
  const get = batched(async () => {
    throw new Error('store down');
  });
  const r = await Promise.allSettled([get(1), get(2)]);
  t.same(r.map((x) => x.status), ['rejected', 'rejected']);
});

/**
 * The web client at `/` end to end in headless Chromium, against a real node: two people in two
 * browser contexts register, chat in a room, reply in a thread, react, edit and delete, see each
 * other type and be online, open a DM; one goes offline (network emulation) while the other
 * writes, comes back and shows every message once, in order; the same for a DM listed at load
 * and not opened since, written to while offline; a message holding HTML shows as text and runs
 * nothing. Screenshots of the main views go to test-artifacts/ (git-ignored).
 */
import t from 'tap';
import type { BrowserContext, Page } from 'playwright-core';
import { artifact, launchChromium } from './helpers/browser.js';
import { startLive } from './helpers/live.js';

const PASSWORD = 'correct horse battery';

async function register(page: Page, url: string, username: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('E-mail (to register)').fill(`${username}@example.test`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#conn[data-state="open"]').waitFor();
}

/** The texts of the top-level messages shown, in page order. */
const shown = (page: Page) => page.locator('#messages > li.msg > p.content').allTextContents();
const seqs = (page: Page) => page.locator('#messages > li.msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));

async function say(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).press('Enter');
}

t.test('two people chat in Chromium', async (t) => {
  // The browser first: without it the test skips before starting a node.
  const browser = await launchChromium(t);
  if (!browser) return;
  const live = await startLive(t, 'pglite', { limits: { perMinute: { send_message: 1000, create_room: 100 } } });
  if (!live) return;
  const suffix = `${process.pid % 1000}`;
  const contexts: BrowserContext[] = [await browser.newContext(), await browser.newContext()];
  const [a, b] = [await contexts[0]!.newPage(), await contexts[1]!.newPage()];
  // Anything a message could make the page run would show up here.
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  for (const p of [a, b]) {
    p.on('dialog', (d) => (dialogs.push(d.message()), void d.dismiss()));
    p.on('pageerror', (e) => pageErrors.push(e.message));
  }

  await a.goto(live.url);
  await a.screenshot({ path: artifact('browser-login.png') });
  const alice = `alice${suffix}`;
  const bob = `bob${suffix}`;
  await register(a, live.url, alice);
  await a.getByLabel('New room').fill('lobby');
  await a.getByLabel('New room').press('Enter');
  await a.locator('#conv-title', { hasText: '# lobby' }).waitFor();

  await register(b, live.url, bob);
  await b.getByRole('button', { name: '# lobby' }).click();
  await b.locator('#members li', { hasText: bob }).waitFor();

  await t.test('chat with live updates, typing and presence', async (t) => {
    await say(a, `hello ${bob}`);
    await b.locator('#messages li', { hasText: `hello ${bob}` }).waitFor();
    await b.getByLabel('Message', { exact: true }).pressSequentially('typing', { delay: 20 });
    await a.locator('#typing', { hasText: `${bob} is typing` }).waitFor();
    await b.getByLabel('Message', { exact: true }).press('Enter');
    await a.locator('#messages li', { hasText: 'typing' }).waitFor();
    await a.locator(`#members li:has-text("${bob}") .status[data-status="online"]`).waitFor();
    t.same(await shown(a), [`hello ${bob}`, 'typing']);
    t.same(await shown(b), [`hello ${bob}`, 'typing']);
  });

  await t.test('reply in a thread, react, edit and delete', async (t) => {
    await b.getByRole('button', { name: `Reply in thread to ${alice}'s message` }).click();
    await b.getByLabel('Reply', { exact: true }).fill('a reply in the thread');
    await b.getByLabel('Reply', { exact: true }).press('Enter');
    await a.getByRole('button', { name: `Reply in thread to ${alice}'s message, 1 reply` }).click();
    await a.locator('#thread-messages li', { hasText: 'a reply in the thread' }).waitFor();
    t.same(await shown(a), [`hello ${bob}`, 'typing'], 'the reply is in the thread, not the room');
    await a.screenshot({ path: artifact('browser-thread.png') });
    await a.getByRole('button', { name: 'Close thread' }).click();

    await b.locator('#messages').getByRole('button', { name: `React with thumbs up to ${alice}'s message` }).click();
    await a.locator('#messages').getByRole('button', { name: '👍 reaction, 1' }).waitFor();
    await b.locator('#messages button.reaction[aria-pressed="true"]').waitFor();

    await a.locator('#messages li', { hasText: `hello ${bob}` }).getByRole('button', { name: 'Edit' }).click();
    await a.getByLabel('Edit message').fill(`hello again ${bob}`);
    await a.getByLabel('Edit message').press('Enter');
    await b.locator('#messages li', { hasText: `hello again ${bob}` }).locator('text=(edited)').waitFor();

    await say(a, 'a mistake');
    await b.locator('#messages li', { hasText: 'a mistake' }).waitFor();
    await a.locator('#messages li', { hasText: 'a mistake' }).getByRole('button', { name: 'Delete' }).click();
    await b.locator('#messages li.deleted', { hasText: 'message deleted' }).waitFor();
    t.same(await shown(b), [`hello again ${bob}`, 'typing', 'message deleted']);
    await b.screenshot({ path: artifact('browser-room.png') });
  });

  await t.test('a message holding HTML shows as text and runs nothing', async (t) => {
    const evil = '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2</script>';
    await say(a, evil);
    const item = b.locator('#messages li p.content', { hasText: '<img src=x' });
    await item.waitFor();
    t.equal(await item.textContent(), evil, 'the text as sent');
    t.equal(await b.locator('#messages img, #messages script').count(), 0, 'no element made from it');
    t.equal(await b.evaluate('window.__pwned'), undefined, 'nothing ran');
    t.equal(await a.evaluate('window.__pwned'), undefined, 'nothing ran for the sender');
  });

  await t.test('a DM', async (t) => {
    await a.getByRole('button', { name: `Direct message ${bob}` }).click();
    await a.locator('#conv-title', { hasText: bob }).waitFor();
    await a.locator(`#members li:has-text("${bob}") .status[data-status="online"]`).waitFor();
    await say(a, 'just between us');
    await a.locator('#messages li', { hasText: 'just between us' }).waitFor();
    const dm = b.locator('#dms button', { hasText: alice });
    await dm.waitFor();
    t.equal(await b.locator('#dms .badge').textContent(), '1', 'an unread badge on the DM');
    await dm.click();
    await b.locator('#messages li', { hasText: 'just between us' }).waitFor();
    await say(b, 'sure');
    await a.locator('#messages li', { hasText: 'sure' }).waitFor();
    t.same(await shown(a), ['just between us', 'sure']);
    await b.screenshot({ path: artifact('browser-dm.png') });
    await a.getByRole('button', { name: '# lobby' }).click();
    await b.getByRole('button', { name: '# lobby' }).click();
    await b.locator('#messages li', { hasText: 'hello again' }).waitFor();
  });

  await t.test('after a reload, with the keyboard only', async (t) => {
    // The session lives in the tab: a reload signs in again and focuses the first room.
    await a.reload();
    await a.locator('#rooms button:focus').waitFor();
    t.equal(await a.evaluate('document.activeElement.textContent'), '# lobby', 'focus on the first room');
    await a.keyboard.press('Enter');
    await a.locator('#messages li', { hasText: 'hello again' }).waitFor();
    // The composer takes the focus once the room's history is drawn (a later task than the list
    // under load): waited for, then asserted.
    await a.locator('#composer-input:focus').waitFor({ timeout: 5000 }).catch(() => {});
    t.equal(await a.evaluate('document.activeElement.id'), 'composer-input', 'opening a room focuses the composer');
    await a.keyboard.type('typed with the keyboard');
    await a.keyboard.press('Enter');
    await b.locator('#messages li', { hasText: 'typed with the keyboard' }).waitFor();
    await a.keyboard.press('Shift+Tab');
    t.equal(await a.evaluate('document.activeElement.getAttribute("aria-label") || document.activeElement.textContent'), 'Delete', 'Shift+Tab walks back into the messages\' actions');
  });

  await t.test('offline and back: every message once, in order', async (t) => {
    const before = await shown(b);
    const states: string[] = [];
    await b.exposeFunction('__state', (s: string) => states.push(s));
    // (A string: this file is compiled without the DOM's types.)
    await b.evaluate(`{
      const conn = document.getElementById('conn');
      new MutationObserver(() => window.__state(conn.getAttribute('data-state') || '')).observe(conn, { attributes: true });
    }`);
    await contexts[1]!.setOffline(true);
    const sent = Array.from({ length: 8 }, (_, i) => `while you were away ${i + 1}`);
    for (const text of sent) {
      await say(a, text);
      await a.locator('#messages li', { hasText: text }).waitFor();
    }
    await b.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 20_000 });
    await b.screenshot({ path: artifact('browser-offline.png') });
    await contexts[1]!.setOffline(false);
    await b.locator('#conn[data-state="open"]').waitFor({ timeout: 20_000 });
    await b.locator('#messages li', { hasText: sent.at(-1)! }).waitFor();
    await say(a, 'welcome back');
    await b.locator('#messages li', { hasText: 'welcome back' }).waitFor();
    const after = await shown(b);
    t.same(after, [...before, ...sent, 'welcome back'], 'every message once, in order');
    const s = await seqs(b);
    t.same(s, [...s].sort((x, y) => x - y), 'in seq order');
    t.equal(new Set(s).size, s.length, 'no seq twice');
    t.ok(states.includes('reconnecting'), `the page saw the connection go and come back (${states.join(' → ')})`);
    t.same(await shown(a), after, 'both people see the same room');
  });

  await t.test('a DM listed at load, not opened since, written to while offline', async (t) => {
    // Alice's page was reloaded after the DM's last message: the DM is in her list (GET /dm), not
    // opened, and no event of it has reached the page since. Only the page's follow() of what it
    // listed makes the library resume it after a drop.
    const badge = a.locator('#dms li', { hasText: bob }).locator('.badge');
    const before = (await badge.count()) === 0 ? 0 : Number(await badge.textContent());
    await contexts[0]!.setOffline(true);
    await a.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 20_000 });
    await b.locator('#dms button', { hasText: alice }).click();
    await b.locator('#conv-title', { hasText: alice }).waitFor();
    await say(b, 'while you were offline');
    await b.locator('#messages li', { hasText: 'while you were offline' }).waitFor();
    await contexts[0]!.setOffline(false);
    await a.locator('#conn[data-state="open"]').waitFor({ timeout: 20_000 });
    await say(b, 'now that you are back');
    // The library delivers a conversation's events in seq order: once the live message is counted,
    // the one replayed before it is too (without the follow, the live one alone is).
    await a.locator('#dms li', { hasText: bob }).locator('.badge', { hasText: String(before + 2) }).waitFor({ timeout: 10_000 }).catch(() => {});
    t.equal(await badge.textContent(), String(before + 2), 'both messages reached the page: the one sent offline and the live one');
    await a.locator('#dms button', { hasText: bob }).click();
    await a.locator('#messages li', { hasText: 'now that you are back' }).waitFor();
    t.same(await shown(a), ['just between us', 'sure', 'while you were offline', 'now that you are back'], 'the DM, each message once, in order');
  });

  t.same(dialogs, [], 'no dialog opened');
  t.same(pageErrors, [], 'no error in the pages');
});

// End to end: three headless Chromiums with fake cameras and microphones play a whole round of
// Bodyswap against the real stack (room service serving the built app, livekit-server, agent).
// Run by tests/e2e/test_browser_game.py, which starts the stack and makes the media; by hand:
//   BODYSWAP_URL=http://127.0.0.1:8080 BODYSWAP_BROWSER_MEDIA='[{"y4m":..,"wav":..},...]' \
//   BODYSWAP_SCREENSHOTS=.run/e2e-screenshots node e2e/game.e2e.mjs

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.BODYSWAP_URL ?? 'http://127.0.0.1:8080';
const MEDIA = JSON.parse(process.env.BODYSWAP_BROWSER_MEDIA ?? '[]');
const SHOTS = process.env.BODYSWAP_SCREENSHOTS ?? '.run/e2e-screenshots';
const CHROMIUM = process.env.BODYSWAP_CHROMIUM ?? '/usr/bin/chromium';
const NAMES = ['Ann', 'Bo', 'Cy'];
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];
const SECOND = 1000;

mkdirSync(SHOTS, { recursive: true });
const started = Date.now();
const log = (...args) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...args);

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function launchPlayer(name, media, extraFlags = []) {
  const files = media ? [`--use-file-for-fake-video-capture=${media.y4m}`, `--use-file-for-fake-audio-capture=${media.wav}`] : [];
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...files, ...extraFlags],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && log(`${name} console:`, m.text()));
  page.on('pageerror', (e) => log(`${name} page error:`, e.message));
  return { name, browser, context, page };
}

/** Per body tile: its name, mean brightness of the current frame, and frames decoded so far. */
async function videoStats(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.body-tile')].map((tile) => {
      const video = tile.querySelector('video');
      const name = tile.querySelector('figcaption')?.textContent;
      if (!video || !video.videoWidth) return `${name}: no video`;
      const canvas = Object.assign(document.createElement('canvas'), { width: 32, height: 24 });
      canvas.getContext('2d').drawImage(video, 0, 0, 32, 24);
      const rgba = canvas.getContext('2d').getImageData(0, 0, 32, 24).data;
      let sum = 0;
      for (let i = 0; i < rgba.length; i += 4) sum += (rgba[i] + rgba[i + 1] + rgba[i + 2]) / 3;
      const quality = video.getVideoPlaybackQuality();
      return `${name}: brightness ${(sum / (rgba.length / 4)).toFixed(0)}, ${quality.totalVideoFrames} frames (${quality.droppedVideoFrames} dropped), paused ${video.paused}`;
    }),
  );
}

let shotCount = 0;
async function shot(player, what) {
  shotCount += 1;
  const file = join(SHOTS, `${String(shotCount).padStart(2, '0')}-${player.name.toLowerCase()}-${what}.png`);
  try {
    // Generous: on a busy 2-core machine a screenshot can wait long for a frame.
    await player.page.screenshot({ path: file, timeout: 90 * SECOND });
    log('screenshot', file);
  } catch (error) {
    log(`screenshot ${file} failed: ${error.message.split('\n')[0]}`); // an artifact, not a check
  }
}

async function deviceCheck(player) {
  const page = player.page;
  const proceed = page.getByRole('button', { name: 'Looks good, continue' });
  const turnOn = page.getByRole('button', { name: 'Turn on camera and microphone' });
  await proceed.or(turnOn).first().waitFor({ timeout: 20 * SECOND });
  if (await turnOn.isVisible()) await turnOn.click();
  await proceed.waitFor({ timeout: 20 * SECOND });
  // The preview plays and the level meter moves with the fake microphone.
  await page.waitForFunction(() => document.querySelector('video.local-video')?.videoWidth > 0, null, { timeout: 20 * SECOND });
  await page.waitForFunction(() => Number(document.querySelector('[role=meter]')?.getAttribute('aria-valuenow')) > 0, null, {
    timeout: 20 * SECOND,
  });
}

async function takePhoto(page) {
  await page.getByRole('button', { name: 'Take photo' }).click();
  await page.getByRole('button', { name: 'Use this photo' }).waitFor({ timeout: 15 * SECOND });
}

async function enroll(player) {
  const page = player.page;
  await page.getByLabel(/I agree/).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await takePhoto(page);
  if (player.name === 'Ann') await shot(player, 'photo-taken');
  await page.getByRole('button', { name: 'Use this photo' }).click();
  await page.getByRole('button', { name: 'Start recording' }).click();
  if (player.name === 'Ann') {
    await page.waitForTimeout(3 * SECOND);
    await shot(player, 'recording-voice');
  }
  const finish = page.getByRole('button', { name: 'Finish recording' });
  await finish.waitFor({ timeout: 90 * SECOND });
  await finish.click();
  await page.getByRole('button', { name: 'Use this recording' }).click();
  await page.getByRole('progressbar', { name: 'Upload progress' }).waitFor({ timeout: 10 * SECOND });
  if (player.name === 'Ann') await shot(player, 'uploading');
  // The service may refuse (a photo taken mid-blink, looking away): do what the verdict says.
  const lobby = page.getByRole('heading', { name: 'Lobby' });
  const verdict = page.locator('section.verdict');
  for (let attempt = 1; ; attempt++) {
    await lobby.or(verdict).first().waitFor({ timeout: 120 * SECOND });
    if (await lobby.isVisible()) break;
    const text = (await verdict.innerText()).replace(/\s+/g, ' ');
    log(`${player.name}: enrollment refused (attempt ${attempt}): ${text}`);
    await shot(player, `verdict-${attempt}`);
    check(attempt < 4, `${player.name} could not enroll`);
    const retake = page.getByRole('button', { name: 'Retake the photo' });
    if (await retake.isVisible()) {
      await retake.click();
      await takePhoto(page);
      await page.getByRole('button', { name: 'Use this photo' }).click();
    } else {
      check(await page.getByRole('button', { name: 'Try again' }).isVisible(), `a fix is offered: ${text}`);
      await page.getByRole('button', { name: 'Try again' }).click();
    }
  }
  log(player.name, 'enrolled');
}

async function phaseOf(page) {
  // Generous: a busy machine can take seconds to answer; null only when there is no round header.
  if ((await page.locator('.round-header .phase').count()) === 0) return null;
  return page.locator('.round-header .phase').textContent({ timeout: 30 * SECOND }).catch(() => null);
}

async function waitForPhase(players, phase, timeout) {
  await Promise.all(
    players.map((p) => p.page.locator('.round-header .phase', { hasText: phase }).waitFor({ timeout })),
  );
}

/** Every player sees the two other bodies and their own, all marked AI-altered, with video. */
async function checkBodies(players) {
  for (const player of players) {
    const page = player.page;
    await page.waitForFunction(
      () => {
        const videos = [...document.querySelectorAll('.body-tile video')];
        return videos.length === 3 && videos.every((v) => v.videoWidth > 0 && v.readyState >= 2);
      },
      null,
      { timeout: 60 * SECOND },
    );
    const grid = await page.locator('.body-grid figcaption').allTextContents();
    const wearing = await page.locator('.self-view .wearing strong').textContent();
    check(grid.length === 2, `${player.name} sees ${grid.length} bodies in the grid`);
    check(!grid.includes(wearing), `${player.name}'s grid leaves out the body they wear`);
    check([...grid, wearing].sort().join() === [...NAMES].sort().join(), `${player.name} sees every body once: ${grid} + ${wearing}`);
    check((await page.locator('.body-tile .badge', { hasText: 'AI-altered' }).count()) === 3, `${player.name}: every body is badged`);
    // Only bodies are ever shown: every remote video comes from a body-* participant.
    check((await page.locator('video:not(.local-video)').count()) === 3, `${player.name}: no other videos on the page`);
    // The voices of the two other bodies play; the one you wear is not played back to you.
    await page.waitForFunction(() => [...document.querySelectorAll('audio')].filter((a) => !a.paused && a.srcObject).length === 2, null, {
      timeout: 30 * SECOND,
    });
    player.wearing = wearing;
    log(player.name, 'wears', wearing, 'and sees', grid.join(', '));
  }
}

/** Waits until the named body's video shows a picture (not black) that moves: two looks a
 * second apart differ, so frames repeated from before a reload do not count. (A loop here, since
 * waitForFunction does not await an async predicate.) */
async function waitForLiveBody(page, bodyName, timeout = 90 * SECOND) {
  const until = Date.now() + timeout;
  let last = 'no tile yet';
  while (Date.now() < until) {
    last = await page.evaluate(async (name) => {
      const tile = [...document.querySelectorAll('.body-tile')].find((t) => t.querySelector('figcaption')?.textContent === name);
      const video = tile?.querySelector('video');
      if (!video || video.videoWidth === 0) return 'no video';
      const look = () => {
        const canvas = Object.assign(document.createElement('canvas'), { width: 64, height: 48 });
        canvas.getContext('2d').drawImage(video, 0, 0, 64, 48);
        const rgba = canvas.getContext('2d').getImageData(0, 0, 64, 48).data;
        return Array.from({ length: rgba.length / 4 }, (_, i) => (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3);
      };
      const before = look();
      await new Promise((r) => setTimeout(r, 1000));
      const after = look();
      const mean = after.reduce((a, b) => a + b, 0) / after.length;
      const change = after.reduce((a, v, i) => a + Math.abs(v - before[i]), 0) / after.length;
      return mean > 30 && change > 1 ? 'live' : `brightness ${mean.toFixed(0)}, change ${change.toFixed(1)}`;
    }, bodyName);
    if (last === 'live') return;
    await page.waitForTimeout(500);
  }
  throw new Error(`check failed: ${bodyName}'s video never moved (${last})`);
}

async function main() {
  check(MEDIA.length >= 3, 'BODYSWAP_BROWSER_MEDIA must list 3 players');
  const players = [];
  for (let i = 0; i < 3; i++) players.push(await launchPlayer(NAMES[i], MEDIA[i]));
  const [host, ...guests] = players;
  try {
    // Start: the host creates a room.
    await host.page.goto(BASE);
    await host.page.getByLabel('Your name').fill('Ann');
    await shot(host, 'start');
    await host.page.getByRole('button', { name: 'Create a room' }).click();
    await deviceCheck(host);
    await shot(host, 'device-check');
    await host.page.getByRole('button', { name: 'Looks good, continue' }).click();
    await shot(host, 'consent');
    const invite = await host.page.getByLabel(/Invite link/).inputValue();
    check(invite.includes('/join/') && invite.includes('invite='), `invite link ${invite}`);
    log('invite', invite);

    // A broken invite gets a clear message.
    await guests[0].page.goto(invite.replace(/invite=[^&]+/, 'invite=wrong'));
    await guests[0].page.getByLabel('Your name').fill('Bo');
    await guests[0].page.getByRole('button', { name: 'Join' }).click();
    await guests[0].page.getByRole('alert').filter({ hasText: 'invite link is not valid' }).waitFor({ timeout: 10 * SECOND });
    await shot(guests[0], 'bad-invite');

    // Guests join through the link.
    for (const guest of guests) {
      await guest.page.goto(invite);
      await guest.page.getByLabel('Your name').fill(guest.name);
      if (guest.name === 'Bo') await shot(guest, 'join');
      await guest.page.getByRole('button', { name: 'Join' }).click();
      await deviceCheck(guest);
      await guest.page.getByRole('button', { name: 'Looks good, continue' }).click();
    }

    // Everyone enrolls at once: consent, photo, voice, upload, the service's checks.
    await Promise.all(players.map(enroll));
    await shot(host, 'lobby');

    // Mirror: the host tries on a sample body and sees herself moving in it, then stops.
    const tryOn = host.page.getByRole('button', { name: /^Try on / }).first();
    await tryOn.waitFor({ timeout: 20 * SECOND });
    const sampleName = (await tryOn.getAttribute('aria-label')).replace('Try on ', '');
    const mirrorAt = Date.now();
    await tryOn.click();
    await waitForLiveBody(host.page, `You as ${sampleName}`);
    log(`mirror: ${host.name} moves in the sample body ${sampleName} ${((Date.now() - mirrorAt) / 1000).toFixed(1)} s after asking`);
    await shot(host, 'mirror');
    await host.page.getByRole('button', { name: 'Stop the mirror' }).click();
    await tryOn.waitFor({ timeout: 10 * SECOND });

    // Lobby: guests get ready; the host makes the timers short and starts.
    for (const guest of guests) await guest.page.getByRole('button', { name: "I'm ready" }).click();
    await host.page.getByLabel('Rounds').fill('1');
    await host.page.getByLabel('Turn (seconds)').fill('300'); // turns end early: each player passes
    await host.page.getByLabel('Vote (seconds)').fill('300'); // closes early: everyone locks in
    await host.page.getByLabel('Reveal (seconds)').fill('15');
    await host.page.getByRole('button', { name: 'Save settings' }).click();
    await host.page.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: 10 * SECOND });
    const start = host.page.getByRole('button', { name: 'Start the game' });
    await host.page.waitForFunction(() => {
      const b = [...document.querySelectorAll('button')].find((x) => x.textContent === 'Start the game');
      return b && !b.disabled;
    }, null, { timeout: 20 * SECOND });
    await shot(host, 'lobby-all-ready');
    await start.click();
    const startedAt = Date.now();

    // Turns: bodies on screen, one hot seat at a time.
    await waitForPhase(players, 'Questions', 30 * SECOND);
    await checkBodies(players);
    log(`bodies playing on every page ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the start`);
    for (const p of players) await shot(p, 'turn');

    // A reload puts the player back in their seat, and their body moves again for the others.
    const reloader = guests[1];
    const reloadedAt = Date.now();
    await reloader.page.reload();
    await reloader.page.locator('.round-header .phase', { hasText: 'Questions' }).waitFor({ timeout: 30 * SECOND });
    log(`${reloader.name} back in the game ${((Date.now() - reloadedAt) / 1000).toFixed(1)} s after a reload`);
    await waitForLiveBody(host.page, reloader.wearing);
    log(`${reloader.name}'s body (${reloader.wearing}) live again for ${host.name} ${((Date.now() - reloadedAt) / 1000).toFixed(1)} s after the reload`);
    await checkBodies([reloader]);
    await shot(reloader, 'after-reload');

    // A network drop: the browser is offline for 8 s (the app notices and says so), then back in
    // its seat, with fresh tokens, and its body moves again for the others.
    const dropper = guests[0];
    const droppedAt = Date.now();
    await dropper.context.setOffline(true);
    await dropper.page.locator('.topbar .connection', { hasText: 'reconnecting' }).waitFor({ timeout: 20 * SECOND });
    await shot(dropper, 'network-drop');
    await dropper.page.waitForTimeout(Math.max(0, 8 * SECOND - (Date.now() - droppedAt)));
    const backAt = Date.now();
    await dropper.context.setOffline(false);
    await dropper.page.locator('.topbar .connection', { hasText: /^connected$/ }).waitFor({ timeout: 60 * SECOND });
    await dropper.page.locator('.round-header .phase', { hasText: 'Questions' }).waitFor({ timeout: 30 * SECOND });
    log(`${dropper.name} reconnected ${((Date.now() - backAt) / 1000).toFixed(1)} s after the network came back`);
    await waitForLiveBody(host.page, dropper.wearing);
    log(`${dropper.name}'s body (${dropper.wearing}) live again for ${host.name} ${((Date.now() - backAt) / 1000).toFixed(1)} s after the network came back`);
    await checkBodies([dropper]);

    // Each hot-seat player sees "Your turn", the others see that body highlighted; each passes.
    let turns = 0;
    const turnsUntil = Date.now() + 3 * 60 * SECOND;
    while ((await phaseOf(host.page)) === 'Questions' && Date.now() < turnsUntil) {
      const hot = [];
      for (const p of players) if (await p.page.getByText('Your turn! Answer in character:').isVisible()) hot.push(p);
      if (hot.length !== 1) {
        await host.page.waitForTimeout(500); // between turns
        continue;
      }
      const [player] = hot;
      const prompt = await player.page.locator('.prompt').textContent();
      log(`turn ${turns + 1}: ${player.name} (wearing ${player.wearing}) answers "${prompt}"`);
      for (const other of players.filter((p) => p !== player)) {
        const highlighted = await other.page.locator('.body-tile.hot figcaption').allTextContents();
        check(highlighted.join() === player.wearing, `${other.name} highlights ${highlighted} for ${player.wearing}`);
      }
      if (turns === 0) {
        for (const p of players) log(`${p.name}'s bodies:`, (await videoStats(p.page)).join(' | '));
        await shot(player, 'hot-seat');
        await shot(players.find((p) => p !== player), 'someone-else-in-hot-seat');
      }
      // Pass; on a very busy machine a click or its answer can take long, so try again until the
      // turn is over (or its timer ended it meanwhile).
      const yourTurn = player.page.getByText('Your turn! Answer in character:');
      for (let attempt = 0; attempt < 4; attempt++) {
        const done = player.page.getByRole('button', { name: 'Done, next turn' });
        if (!(await done.isVisible())) break;
        await done.click({ timeout: 30 * SECOND }).catch(() => undefined);
        if (await yourTurn.waitFor({ state: 'hidden', timeout: 30 * SECOND }).then(() => true, () => false)) {
          turns += 1;
          break;
        }
      }
    }
    check(turns >= 2, `played ${turns} turns by hand`);

    // Vote: everyone names someone for each other body, then locks in.
    await waitForPhase(players, 'Vote', 30 * SECOND);
    for (const p of players) {
      const selects = p.page.locator('.ballot select');
      const count = await selects.count();
      check(count === 2, `${p.name} votes on ${count} bodies`);
      for (let i = 0; i < count; i++) {
        const options = await selects.nth(i).locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
        await selects.nth(i).selectOption(options[i % options.length]);
      }
    }
    await shot(host, 'vote');
    await players[0].page.getByRole('button', { name: 'Lock in my vote' }).click();
    await players[1].page.locator('.lock-list li.ok').first().waitFor({ timeout: 10 * SECOND });
    await shot(players[1], 'vote-someone-locked');
    for (const p of players.slice(1)) await p.page.getByRole('button', { name: 'Lock in my vote' }).click();

    // Reveal: who was inside each body, points, scoreboard.
    await waitForPhase(players, 'Reveal', 30 * SECOND);
    for (const p of players) {
      await p.page.getByRole('heading', { name: 'Who was inside?' }).waitFor();
      check((await p.page.locator('.reveal-card').count()) === 3, `${p.name} sees 3 reveals`);
      check((await p.page.locator('.scoreboard tbody tr').count()) === 3, `${p.name} sees 3 scores`);
    }
    await host.page.waitForTimeout(2 * SECOND); // the cards' animation
    for (const p of players) await shot(p, 'reveal');

    // Final results; the host can play again.
    await Promise.all(players.map((p) => p.page.getByRole('list', { name: 'Final ranking' }).waitFor({ timeout: 30 * SECOND })));
    for (const p of players) await shot(p, 'final');
    const ranks = await host.page.locator('.ranks li').allTextContents();
    log('final ranking:', ranks.join(' | '));
    check(ranks.length === 3, 'three players ranked');
    await host.page.getByRole('button', { name: 'Play again' }).click();
    await host.page.getByRole('heading', { name: 'Make your body' }).waitFor({ timeout: 20 * SECOND });
    await shot(host, 'play-again');
    for (const p of players) await p.browser.close();

    // A player who blocks the camera is told what to do.
    const denied = await launchPlayer('Di', null, ['--use-fake-ui-for-media-stream=deny']);
    players.push(denied);
    await denied.page.goto(invite);
    await denied.page.getByLabel('Your name').fill('Di');
    await denied.page.getByRole('button', { name: 'Join' }).click();
    await denied.page.getByRole('button', { name: 'Turn on camera and microphone' }).click();
    await denied.page.getByRole('alert').filter({ hasText: 'blocking the camera or microphone' }).waitFor({ timeout: 20 * SECOND });
    check(await denied.page.getByRole('button', { name: 'Try again' }).isVisible(), 'a way to try again');
    await shot(denied, 'camera-denied');
    log(`passed in ${((Date.now() - started) / 1000).toFixed(0)} s with ${shotCount} screenshots`);
  } catch (error) {
    for (const p of players) await shot(p, 'at-failure').catch(() => undefined);
    throw error;
  } finally {
    await Promise.all(players.map((p) => p.browser.close().catch(() => undefined)));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

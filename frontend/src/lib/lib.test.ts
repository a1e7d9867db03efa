import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, explain, SERVER_DOWN, tokenFor } from './api';
import { parseRoute, roomPath } from './route';
import { forgetSeat, loadSeat, saveSeat } from './session';

const grant = {
  room_id: 'r1',
  player_id: 'p1',
  player_key: 'key',
  livekit_url: 'ws://x',
  ingest_token: 'i',
  game_token: 'g',
};

function respond(status: number, body: unknown) {
  vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify(body), { status })));
}

afterEach(() => vi.unstubAllGlobals());

describe('api', () => {
  it('connects with a fresh token from the service, asked with the player key', async () => {
    respond(200, { ...grant, ingest_token: 'i2', game_token: 'g2' });
    expect(await tokenFor(grant, 'game_token')).toBe('g2');
    expect(await tokenFor(grant, 'ingest_token')).toBe('i2');
    const [path, init] = vi.mocked(fetch).mock.calls[0];
    expect(path).toBe('/api/rooms/r1/grant');
    expect(init?.method).toBe('POST');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer key');
  });

  it('falls back to the stored token when the service cannot renew it', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    expect(await tokenFor(grant, 'game_token')).toBe('g');
    respond(403, { error: { code: 'bad_credential', message: 'This key is not valid for this room.' } });
    expect(await tokenFor(grant, 'ingest_token')).toBe('i');
  });

  it('turns the service refusal into an error to show as is', async () => {
    respond(410, { error: { code: 'invite_expired', message: 'This invite link has expired.' } });
    const error = await api.joinRoom('r1', 'Bo', 'x').catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(410);
    expect(error.code).toBe('invite_expired');
    expect(explain(error)).toBe('This invite link has expired. Ask the host for a fresh invite link.');
  });

  it('says the room is full and what to do', async () => {
    respond(409, { error: { code: 'room_full', message: 'The room is full (8 players).' } });
    const error = await api.joinRoom('r1', 'Bo', 'x').catch((e) => e);
    expect(explain(error)).toMatch(/full.*raise the player limit/);
  });

  it('says the server is down when it cannot be reached', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(api.createRoom('Ann')).rejects.toBe(SERVER_DOWN);
  });

  it('treats a gateway error page like a server that is down', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>Bad gateway</html>', { status: 502 })));
    const error = await api.createRoom('Ann').catch((e) => e);
    expect(error.message).toBe(SERVER_DOWN.message);
  });

  it('sends the player key', async () => {
    respond(200, { public: {}, private: {} });
    await api.me(grant);
    const [url, init] = (fetch as unknown as ReturnType<typeof vi.fn>).mock.calls[0];
    expect(url).toBe('/api/rooms/r1/me');
    expect(init.headers.Authorization).toBe('Bearer key');
  });
});

describe('routes', () => {
  it('reads the three addresses', () => {
    expect(parseRoute('/', '')).toEqual({ page: 'start' });
    expect(parseRoute('/join/abc', '?invite=xyz')).toEqual({ page: 'join', roomId: 'abc', invite: 'xyz' });
    expect(parseRoute('/join/abc', '')).toEqual({ page: 'join', roomId: 'abc', invite: '' });
    expect(parseRoute('/room/abc', '')).toEqual({ page: 'room', roomId: 'abc' });
    expect(parseRoute('/elsewhere', '')).toEqual({ page: 'start' });
    expect(roomPath('a b')).toBe('/room/a%20b');
  });
});

describe('session', () => {
  it('keeps one seat per room and tab until forgotten', () => {
    saveSeat({ grant, name: 'Ann', inviteUrl: 'http://x/join/r1?invite=c' });
    expect(loadSeat('r1')?.grant.player_key).toBe('key');
    expect(loadSeat('r2')).toBeNull();
    forgetSeat('r1');
    expect(loadSeat('r1')).toBeNull();
    expect(loadSeat('r1', true)).toBeNull();
  });

  it('lets another tab take its own seat, and a closed tab come back', () => {
    saveSeat({ grant, name: 'Ann', inviteUrl: 'http://x/join/r1?invite=c' });
    sessionStorage.clear(); // a new tab: its invite link opens the join form, not Ann's seat
    expect(loadSeat('r1')).toBeNull();
    expect(loadSeat('r1', true)?.name).toBe('Ann'); // /room/r1 takes the browser's last seat
    expect(loadSeat('r1')?.name).toBe('Ann');
    forgetSeat('r1');
  });

  it('survives garbage in storage', () => {
    sessionStorage.setItem('bodyswap.grant.r3', '{not json');
    localStorage.setItem('bodyswap.grant.r3', '{not json');
    expect(loadSeat('r3', true)).toBeNull();
  });
});

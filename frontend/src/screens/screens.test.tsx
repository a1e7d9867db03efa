import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ANN, BO, player, publicView } from '../test/fixtures';
import { JoinScreen } from './JoinScreen';
import { StartScreen } from './StartScreen';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

/** fetch answering GET /api/rooms/{id} with `room`, and the join with `join`. */
function service(room: { status: number; body: unknown }, join?: { status: number; body: unknown }) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_url: string, init?: RequestInit) => {
      const answer = init?.method === 'POST' ? join! : room;
      return new Response(JSON.stringify(answer.body), { status: answer.status });
    }),
  );
}

describe('JoinScreen', () => {
  it('names the host and who is there', async () => {
    service({ status: 200, body: publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo')] }) });
    render(<JoinScreen roomId="room1" invite="code" />);
    expect(await screen.findByRole('heading', { name: "Join Ann's game" })).toBeTruthy();
    expect(screen.getByText(/2 of 8 players here: Ann, Bo/)).toBeTruthy();
  });

  it('says up front that the room is full', async () => {
    const view = publicView();
    view.settings.max_players = 3;
    service({ status: 200, body: view });
    render(<JoinScreen roomId="room1" invite="code" />);
    expect(await screen.findByText(/This room is full \(3 players\)/)).toBeTruthy();
  });

  it('explains an expired link after trying to join', async () => {
    service(
      { status: 200, body: publicView() },
      { status: 410, body: { error: { code: 'invite_expired', message: 'This invite link has expired.' } } },
    );
    render(<JoinScreen roomId="room1" invite="code" />);
    fireEvent.change(screen.getByLabelText('Your name'), { target: { value: 'Di' } });
    fireEvent.click(screen.getByRole('button', { name: 'Join' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'This invite link has expired. Ask the host for a fresh invite link.',
    );
  });

  it('says a link without its code is incomplete', async () => {
    service({ status: 200, body: publicView() });
    render(<JoinScreen roomId="room1" invite="" />);
    expect(await screen.findByText(/no invite code/)).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Join' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('says when the room is gone', async () => {
    service({ status: 404, body: { error: { code: 'room_not_found', message: 'This room does not exist or has ended.' } } });
    render(<JoinScreen roomId="room1" invite="code" />);
    expect((await screen.findByRole('alert')).textContent).toMatch(/has ended.*ask them for a new link/);
  });
});

describe('StartScreen', () => {
  it('says when the server is down', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    render(<StartScreen />);
    fireEvent.change(screen.getByLabelText('Your name'), { target: { value: 'Ann' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create a room' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/cannot reach the Bodyswap server/);
  });
});

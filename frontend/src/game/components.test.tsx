import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ANN, BO, CY, player, publicView, voteView } from '../test/fixtures';
import { renderInGame, storeOf } from '../test/renderInGame';
import { Ballot } from './Ballot';
import { FinalScreen } from './FinalScreen';
import { Lobby } from './Lobby';
import { RevealScreen } from './RevealScreen';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const WEARING_BO = { body: { body_id: 'body-b', body_name: 'Bo' } };

describe('Ballot', () => {
  it('asks about every other body, offering every other player', () => {
    renderInGame(<Ballot />, storeOf(voteView(), WEARING_BO));
    const ann = screen.getByLabelText("Inside Ann's body:");
    expect(screen.getByLabelText("Inside Cy's body:")).toBeTruthy();
    expect(screen.queryByLabelText("Inside Bo's body:")).toBeNull(); // the one I wear
    const options = within(ann).getAllByRole('option').map((o) => o.textContent);
    expect(options).toEqual(['— choose —', 'Bo', 'Cy']);
    const cy = within(screen.getByLabelText("Inside Cy's body:")).getAllByRole('option').map((o) => o.textContent);
    expect(cy).toEqual(['— choose —', 'Bo']); // nobody wears their own body
  });

  it('sends each change as an unlocked draft, one body per player', async () => {
    const { rpc } = renderInGame(<Ballot />, storeOf(voteView(), WEARING_BO));
    fireEvent.change(screen.getByLabelText("Inside Ann's body:"), { target: { value: BO } });
    fireEvent.change(screen.getByLabelText("Inside Cy's body:"), { target: { value: BO } });
    await waitFor(() => expect(rpc).toHaveBeenCalledTimes(2));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.vote', { guesses: { 'body-c': BO }, lock: false });
    expect((screen.getByLabelText("Inside Ann's body:") as HTMLSelectElement).value).toBe('');
  });

  it('locks in after the drafts, in order', async () => {
    const { rpc } = renderInGame(<Ballot />, storeOf(voteView(), WEARING_BO));
    fireEvent.change(screen.getByLabelText("Inside Ann's body:"), { target: { value: CY } });
    fireEvent.click(screen.getByRole('button', { name: 'Lock in my vote' }));
    await waitFor(() => expect(rpc).toHaveBeenCalledTimes(2));
    expect(rpc.mock.calls.map((c) => (c as unknown[])[1])).toEqual([
      { guesses: { 'body-a': CY }, lock: false },
      { guesses: { 'body-a': CY }, lock: true },
    ]);
  });

  it('shows a locked ballot read-only, as the service kept it', () => {
    renderInGame(<Ballot />, storeOf(voteView(), { ...WEARING_BO, guesses: { 'body-a': CY }, locked: true }));
    const ann = screen.getByLabelText("Inside Ann's body:") as HTMLSelectElement;
    expect(ann.value).toBe(CY);
    expect(ann.disabled).toBe(true);
    expect(screen.queryByRole('button', { name: 'Lock in my vote' })).toBeNull();
    expect(screen.getByText('Your vote is locked in.')).toBeTruthy();
  });
});

describe('Lobby', () => {
  it('gives the host settings, removal and a start that says what it waits for', () => {
    const view = publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo', { ready: false }), player(CY, 'Cy')] });
    const { rpc } = renderInGame(<Lobby />, storeOf(view));
    const start = screen.getByRole('button', { name: 'Start the game' }) as HTMLButtonElement;
    expect(start.disabled).toBe(true);
    expect(screen.getByText('Waiting for Bo to be ready.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Remove Cy' }));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.kick', { player_id: CY });
    fireEvent.change(screen.getByLabelText('Rounds'), { target: { value: '1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.settings', {
      settings: { rounds: 1, turn_seconds: 30, vote_seconds: 45, reveal_seconds: 20, max_players: 8 },
    });
    expect((screen.getByLabelText(/Invite link/) as HTMLInputElement).value).toContain('/join/room1?invite=');
  });

  it('lets two players start, and says that two is a trial run', () => {
    const view = publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo')] });
    const { rpc } = renderInGame(<Lobby />, storeOf(view));
    fireEvent.click(screen.getByRole('button', { name: 'Start the game' }));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.start', undefined);
    expect(screen.getByText(/each wear the other's body/)).toBeTruthy();
  });

  it('gives a guest a ready toggle and no host controls', () => {
    const view = publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo', { ready: false, is_host: false })] });
    const { rpc } = renderInGame(<Lobby />, storeOf(view, { player_id: BO, name: 'Bo', is_host: false }));
    expect(screen.queryByRole('button', { name: 'Start the game' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Remove/ })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: "I'm ready" }));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.ready', { ready: true });
  });
});

describe('RevealScreen', () => {
  it('says who was inside each body, who guessed right, and the points', () => {
    const reveal = {
      round: 1,
      multiplier: 1,
      bodies: [
        { body_id: 'body-a', body_name: 'Ann', driver_id: CY, driver_name: 'Cy', guessed_right: [BO], fooled: [] },
        { body_id: 'body-b', body_name: 'Bo', driver_id: ANN, driver_name: 'Ann', guessed_right: [], fooled: [BO, CY] },
      ],
      points: { [ANN]: { correct: 0, fooled: 2, points: 100 }, [BO]: { correct: 1, fooled: 0, points: 100 }, [CY]: { correct: 0, fooled: 0, points: 0 } },
    };
    const view = voteView({
      phase: 'reveal',
      rounds: 1,
      reveals: [reveal],
      players: [player(ANN, 'Ann', { score: 100 }), player(BO, 'Bo', { score: 100 }), player(CY, 'Cy')],
    });
    renderInGame(<RevealScreen />, storeOf(view));
    const cards = screen.getAllByRole('listitem');
    expect(cards[0].textContent).toContain("Ann's body was worn by Cy");
    expect(cards[0].textContent).toContain('Bo guessed right.');
    expect(cards[1].textContent).toContain("Bo's body was worn by you");
    expect(cards[1].textContent).toContain('Bo and Cy were fooled.');
    expect(screen.getByRole('table').textContent).toContain('+100');
    expect(screen.getByText('Final results next…')).toBeTruthy();
  });
});

describe('FinalScreen', () => {
  it('ranks everyone and lets the host play again', () => {
    const view = publicView({
      phase: 'final',
      ranks: [
        { rank: 1, player_id: BO, name: 'Bo', score: 300, correct: 2, present: true },
        { rank: 2, player_id: ANN, name: 'Ann', score: 50, correct: 0, present: true },
        { rank: 2, player_id: CY, name: 'Cy', score: 50, correct: 0, present: false },
      ],
    });
    const { rpc } = renderInGame(<FinalScreen onLeave={() => undefined} />, storeOf(view));
    expect(screen.getByRole('heading', { name: 'Bo wins!' })).toBeTruthy();
    expect(screen.getByRole('list', { name: 'Final ranking' }).textContent).toContain('Cy (left)');
    fireEvent.click(screen.getByRole('button', { name: 'Play again' }));
    expect(rpc).toHaveBeenLastCalledWith('bodyswap.play_again');
  });
});

describe('EndRoomButton', () => {
  it('ends the room for everyone after the host confirms, and only the host sees it', async () => {
    const view = publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo')] });
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => new Response('{"ended": true}', { status: 200 }));
    const ends = () => fetch.mock.calls.filter(([url]) => url.endsWith('/end'));
    vi.stubGlobal('fetch', fetch);
    const confirm = vi.fn(() => false);
    vi.stubGlobal('confirm', confirm);
    renderInGame(<Lobby />, storeOf(view));
    const end = screen.getByRole('button', { name: 'End the room for everyone' });
    fireEvent.click(end);
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(ends()).toHaveLength(0); // changed their mind: nothing happens
    confirm.mockReturnValue(true);
    fireEvent.click(end);
    await waitFor(() => expect(window.location.pathname).toBe('/'));
    expect(ends()).toEqual([['/api/rooms/room1/end', expect.objectContaining({ method: 'POST' })]]);
    cleanup();
    renderInGame(<Lobby />, storeOf(view, { player_id: BO, name: 'Bo', is_host: false }));
    expect(screen.queryByRole('button', { name: 'End the room for everyone' })).toBeNull();
  });
});

describe('MediaBanner', () => {
  it('says plainly that the bodies are waiting, and lets only the host go back to the lobby', async () => {
    const { MediaBanner } = await import('./MediaBanner');
    const waiting = { status: 'waiting', message: 'Every media server is busy right now.' };
    let cancelled = 0;
    const onCancel = async () => {
      cancelled += 1;
    };
    const { rerender, container } = render(<MediaBanner media={waiting} host={false} onCancel={onCancel} />);
    expect(screen.getByRole('status').textContent).toContain('Every media server is busy');
    expect(screen.queryByRole('button', { name: 'Back to the lobby' })).toBeNull();
    rerender(<MediaBanner media={waiting} host={true} onCancel={onCancel} />);
    fireEvent.click(screen.getByRole('button', { name: 'Back to the lobby' }));
    expect(cancelled).toBe(1);
    rerender(<MediaBanner media={{ status: 'ready', message: null }} host={true} onCancel={onCancel} />);
    expect(container.textContent).toBe('');
  });
});

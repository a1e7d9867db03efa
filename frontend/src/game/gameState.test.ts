import { describe, expect, it } from 'vitest';
import { ANN, BO, CY, player, privateView, publicView, views, voteView } from '../test/fixtures';
import {
  bodiesToVoteOn,
  gameReducer,
  inHotSeat,
  initialStore,
  isHost,
  latestReveal,
  myBodyNow,
  secondsLeft,
  startBlocker,
  suspects,
  type GameStore,
} from './gameState';

const WEARING_BO = { body_id: 'body-b', body_name: 'Bo' };

function withViews(store: GameStore, pub = voteView(), body = WEARING_BO): GameStore {
  return gameReducer(store, { type: 'views', views: views(pub, { body }), at: 0, seq: store.stateSeq });
}

describe('gameReducer', () => {
  it('takes a broadcast state and turns seconds_left into a local deadline', () => {
    const store = gameReducer(initialStore, { type: 'state', view: voteView({ seconds_left: 45 }), at: 10_000 });
    expect(store.public?.phase).toBe('vote');
    expect(store.stateSeq).toBe(1);
    expect(store.deadlineAt).toBe(55_000);
    expect(secondsLeft(store, 10_000)).toBe(45);
    expect(secondsLeft(store, 54_100)).toBe(1);
    expect(secondsLeft(store, 90_000)).toBe(0);
  });

  it('has no timer in phases without a deadline', () => {
    const store = gameReducer(initialStore, { type: 'state', view: publicView(), at: 0 });
    expect(secondsLeft(store, 0)).toBeNull();
  });

  it('learns my body from an RPC reply, tagged with the round', () => {
    const store = withViews(initialStore);
    expect(store.myBody).toEqual({ ...WEARING_BO, round: 1 });
    expect(myBodyNow(store)?.body_name).toBe('Bo');
  });

  it('ignores the public part of a reply that a newer broadcast overtook', () => {
    let store = gameReducer(initialStore, { type: 'state', view: voteView(), at: 0 });
    const sentAt = store.stateSeq;
    store = gameReducer(store, { type: 'state', view: voteView({ phase: 'reveal' }), at: 1 });
    store = gameReducer(store, { type: 'views', views: views(voteView(), { locked: true }), at: 2, seq: sentAt });
    expect(store.public?.phase).toBe('reveal');
    expect(store.private?.locked).toBe(true);
  });

  it('takes my body from the private your_body message', () => {
    let store = withViews(initialStore);
    store = gameReducer(store, { type: 'state', view: voteView({ phase: 'turns', round: 2 }), at: 0 });
    expect(myBodyNow(store)).toBeNull(); // last round's body is not this round's
    store = gameReducer(store, { type: 'private', event: { kind: 'your_body', round: 2, body_id: 'body-c', body_name: 'Cy' } });
    expect(myBodyNow(store)?.body_name).toBe('Cy');
  });

  it('says so when the host removes me', () => {
    let store = withViews(initialStore);
    store = gameReducer(store, { type: 'event', event: { kind: 'player_left', player_id: ANN, reason: 'kicked' } });
    expect(store.removed).toMatch(/removed you/);
  });

  it('notices it is no longer listed in the lobby', () => {
    let store = withViews(initialStore, publicView(), WEARING_BO);
    store = gameReducer(store, { type: 'state', view: publicView({ players: [player(BO, 'Bo'), player(CY, 'Cy')] }), at: 0 });
    expect(store.removed).not.toBeNull();
  });

  it('keeps the others out of it when someone else leaves', () => {
    let store = withViews(initialStore);
    store = gameReducer(store, { type: 'event', event: { kind: 'player_left', player_id: BO, reason: 'left' } });
    expect(store.removed).toBeNull();
  });
});

describe('selectors', () => {
  it('votes on every in-play body but mine, naming everyone present but me', () => {
    const pub = voteView({
      bodies: [...voteView().bodies.slice(0, 2), { body_id: 'body-c', body_name: 'Cy', in_play: false }],
      players: [player(ANN, 'Ann'), player(BO, 'Bo'), player(CY, 'Cy', { present: false })],
    });
    const store = withViews(initialStore, pub);
    expect(bodiesToVoteOn(store).map((b) => b.body_name)).toEqual(['Ann']);
    expect(suspects(store).map((p) => p.name)).toEqual(['Bo']);
  });

  it('knows when I am in the hot seat', () => {
    const turns = voteView({ phase: 'turns', hot_seat: { body_id: 'body-b', body_name: 'Bo', turn: 1, turns: 3 } });
    expect(inHotSeat(withViews(initialStore, turns))).toBe(true);
    const other = { ...turns, hot_seat: { body_id: 'body-a', body_name: 'Ann', turn: 2, turns: 3 } };
    expect(inHotSeat(withViews(initialStore, other))).toBe(false);
  });

  it('knows the host', () => {
    expect(isHost(withViews(initialStore))).toBe(true);
    const store = gameReducer(initialStore, { type: 'views', views: { public: voteView(), private: privateView({ player_id: BO }) }, at: 0, seq: 0 });
    expect(isHost(store)).toBe(false);
  });

  it('returns the latest reveal', () => {
    const reveal = (round: number) => ({ round, multiplier: round, bodies: [], points: {} });
    const store = withViews(initialStore, voteView({ phase: 'reveal', reveals: [reveal(1), reveal(2)] }));
    expect(latestReveal(store)?.round).toBe(2);
  });

  it('explains why the game cannot start, as the engine would', () => {
    expect(startBlocker(publicView({ players: [player(ANN, 'Ann')] }))).toBe('At least 2 players are needed; there are 1.');
    const unenrolled = publicView({ players: [player(ANN, 'Ann'), player(BO, 'Bo', { enrolled: false }), player(CY, 'Cy', { enrolled: false })] });
    expect(startBlocker(unenrolled)).toBe('Waiting for Bo and Cy to finish enrolling.');
    const unready = publicView({ players: [player(ANN, 'Ann', { ready: false }), player(BO, 'Bo', { ready: false }), player(CY, 'Cy')] });
    expect(startBlocker(unready)).toBe('Waiting for Bo to be ready.'); // the host needs no ready
    expect(startBlocker(publicView())).toBeNull();
  });
});

// The client's picture of the game, rebuilt from what the game master sends: a pure reducer and
// the selectors the screens read. No I/O here; unit-tested in gameState.test.ts.

import type { GameEvent, PlayerInfo, PrivateView, PublicView, RoundResult, Views } from './protocol';
import { isYourBody } from './protocol';

export type Connection = 'offline' | 'connecting' | 'connected' | 'reconnecting';

export interface MyBody {
  body_id: string;
  body_name: string;
  round: number; // the round it was dealt for: bodies are reshuffled every round
}

export interface GameStore {
  public: PublicView | null;
  private: PrivateView | null;
  myBody: MyBody | null;
  /** Local clock time (ms) at which the current phase's timer runs out. */
  deadlineAt: number | null;
  /** How many broadcast states were applied: an RPC reply older than a broadcast is not applied. */
  stateSeq: number;
  lastEvent: GameEvent | null;
  connection: Connection;
  /** Why this player is out of the room (kicked, room ended), to show as is. */
  removed: string | null;
}

export const initialStore: GameStore = {
  public: null,
  private: null,
  myBody: null,
  deadlineAt: null,
  stateSeq: 0,
  lastEvent: null,
  connection: 'offline',
  removed: null,
};

export type GameAction =
  /** A broadcast on bodyswap.state, received at local time `at` (ms). */
  | { type: 'state'; view: PublicView; at: number }
  /** An RPC reply or GET /me. `seq` is the stateSeq when the request was sent. */
  | { type: 'views'; views: Views; at: number; seq: number }
  | { type: 'event'; event: GameEvent }
  | { type: 'private'; event: GameEvent }
  | { type: 'connection'; connection: Connection }
  | { type: 'removed'; reason: string };

export function gameReducer(store: GameStore, action: GameAction): GameStore {
  switch (action.type) {
    case 'state':
      return withPublic({ ...store, stateSeq: store.stateSeq + 1 }, action.view, action.at);
    case 'views': {
      // A broadcast that arrived after this request was sent is newer: keep it, and the body we
      // know, and take only the private part (the next sync brings the rest up to date).
      if (action.seq !== store.stateSeq) return { ...store, private: action.views.private };
      const next = withPublic(store, action.views.public, action.at);
      const body = action.views.private.body;
      return {
        ...next,
        private: action.views.private,
        myBody: body ? { ...body, round: action.views.public.round } : null,
      };
    }
    case 'event':
      return eventEffects({ ...store, lastEvent: action.event }, action.event);
    case 'private':
      if (isYourBody(action.event)) {
        const { body_id, body_name, round } = action.event;
        return { ...store, myBody: { body_id, body_name, round } };
      }
      return store;
    case 'connection':
      return { ...store, connection: action.connection };
    case 'removed':
      return { ...store, removed: action.reason };
  }
}

function withPublic(store: GameStore, view: PublicView, at: number): GameStore {
  const me = store.private?.player_id;
  let removed = store.removed;
  if (me && view.phase === 'lobby' && !view.players.some((p) => p.player_id === me)) {
    removed = removed ?? 'You are no longer in this room.';
  }
  return {
    ...store,
    public: view,
    deadlineAt: view.seconds_left === null ? null : at + view.seconds_left * 1000,
    removed,
  };
}

function eventEffects(store: GameStore, event: GameEvent): GameStore {
  const me = store.private?.player_id;
  if (event.kind === 'player_left' && me && event.player_id === me) {
    const reason = event.reason === 'kicked' ? 'The host removed you from this room.' : 'You left this room.';
    return { ...store, removed: reason };
  }
  return store;
}

// --- selectors --------------------------------------------------------------------------------

export function mePlayer(store: GameStore): PlayerInfo | undefined {
  const me = store.private?.player_id;
  return store.public?.players.find((p) => p.player_id === me);
}

export function isHost(store: GameStore): boolean {
  return !!store.private && store.public?.host_id === store.private.player_id;
}

/** The body I wear this round, or null when not dealt (lobby, final) or not yet known. */
export function myBodyNow(store: GameStore): MyBody | null {
  const view = store.public;
  if (!view || view.phase === 'lobby' || view.phase === 'final') return null;
  return store.myBody && store.myBody.round === view.round ? store.myBody : null;
}

export function inHotSeat(store: GameStore): boolean {
  const body = myBodyNow(store);
  return !!body && store.public?.phase === 'turns' && store.public.hot_seat?.body_id === body.body_id;
}

/** The in-play bodies I vote on: every one but my own. */
export function bodiesToVoteOn(store: GameStore) {
  const mine = myBodyNow(store)?.body_id;
  return (store.public?.bodies ?? []).filter((b) => b.in_play && b.body_id !== mine);
}

/** Who I may name in a vote: every other player still in the game. */
export function suspects(store: GameStore): PlayerInfo[] {
  const me = store.private?.player_id;
  return (store.public?.players ?? []).filter((p) => p.present && p.player_id !== me);
}

export function secondsLeft(store: GameStore, now: number): number | null {
  if (store.deadlineAt === null) return null;
  return Math.max(0, Math.ceil((store.deadlineAt - now) / 1000));
}

export function latestReveal(store: GameStore): RoundResult | null {
  const reveals = store.public?.reveals ?? [];
  return reveals.length ? reveals[reveals.length - 1] : null;
}

export function playerName(store: GameStore, playerId: string): string {
  return store.public?.players.find((p) => p.player_id === playerId)?.name ?? 'someone who left';
}

/** Players sorted for a scoreboard: most points first, join order among equals. */
export function scoreboard(store: GameStore): PlayerInfo[] {
  return [...(store.public?.players ?? [])].sort((a, b) => b.score - a.score);
}

/** Whether the lobby can start, and if not, why (the engine's own rules, said before asking). */
export function startBlocker(view: PublicView): string | null {
  const players = view.players;
  if (players.length < view.settings.min_players) {
    return `At least ${view.settings.min_players} players are needed; there are ${players.length}.`;
  }
  const unenrolled = players.filter((p) => !p.enrolled).map((p) => p.name);
  if (unenrolled.length) return `Waiting for ${listing(unenrolled)} to finish enrolling.`;
  const unready = players.filter((p) => !p.ready && !p.is_host).map((p) => p.name);
  if (unready.length) return `Waiting for ${listing(unready)} to be ready.`;
  return null;
}

export function listing(names: string[]): string {
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

// Views shaped exactly like room_service/game/views.py produces them, for the unit tests.

import type { PlayerInfo, PrivateView, PublicView, Views } from '../game/protocol';

export const ANN = 'p-ann';
export const BO = 'p-bo';
export const CY = 'p-cy';

export function player(id: string, name: string, extra: Partial<PlayerInfo> = {}): PlayerInfo {
  return { player_id: id, name, enrolled: true, ready: true, present: true, score: 0, is_host: id === ANN, ...extra };
}

export function publicView(extra: Partial<PublicView> = {}): PublicView {
  return {
    room_id: 'room1',
    phase: 'lobby',
    round: 0,
    rounds: 3,
    multiplier: 0,
    host_id: ANN,
    settings: { min_players: 2, max_players: 8, rounds: 3, turn_seconds: 30, vote_seconds: 45, reveal_seconds: 20 },
    players: [player(ANN, 'Ann'), player(BO, 'Bo'), player(CY, 'Cy')],
    bodies: [],
    hot_seat: null,
    prompt: null,
    deadline: null,
    seconds_left: null,
    locked: [],
    reveals: [],
    ranks: null,
    ...extra,
  };
}

export const BODIES = [
  { body_id: 'body-a', body_name: 'Ann', in_play: true },
  { body_id: 'body-b', body_name: 'Bo', in_play: true },
  { body_id: 'body-c', body_name: 'Cy', in_play: true },
];

/** Round 1 in the vote: Ann wears Bo's body. */
export function voteView(extra: Partial<PublicView> = {}): PublicView {
  return publicView({ phase: 'vote', round: 1, multiplier: 1, bodies: BODIES, seconds_left: 45, deadline: 1000, ...extra });
}

export function privateView(extra: Partial<PrivateView> = {}): PrivateView {
  return {
    player_id: ANN,
    name: 'Ann',
    is_host: true,
    present: true,
    body: null,
    in_hot_seat: false,
    guesses: {},
    locked: false,
    ...extra,
  };
}

export function views(pub: PublicView, priv: Partial<PrivateView> = {}): Views {
  return { public: pub, private: privateView(priv) };
}

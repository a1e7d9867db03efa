// The game protocol spoken with the room service: its HTTP grant and the messages of its
// participant `game-master` in the game room. Mirrors room_service/game/views.py and
// room_service/game_master.py; tests/support/game_client.py is the Python reference client.

export const GAME_MASTER = 'game-master';
export const BODY_PREFIX = 'body-';

export const TOPIC = {
  state: 'bodyswap.state',
  event: 'bodyswap.event',
  private: 'bodyswap.private',
} as const;

export const RPC = {
  sync: 'bodyswap.sync',
  ready: 'bodyswap.ready',
  settings: 'bodyswap.settings',
  start: 'bodyswap.start',
  kick: 'bodyswap.kick',
  pass: 'bodyswap.pass',
  vote: 'bodyswap.vote',
  playAgain: 'bodyswap.play_again',
  cancel: 'bodyswap.cancel',
} as const;
export type RpcMethod = (typeof RPC)[keyof typeof RPC];

export type Phase = 'lobby' | 'turns' | 'vote' | 'reveal' | 'final';

/** What POST /api/rooms and POST /api/rooms/{id}/join return: everything a player needs. */
export interface PlayerGrant {
  room_id: string;
  player_id: string;
  player_key: string;
  livekit_url: string;
  ingest_token: string;
  game_token: string;
  invite_url?: string; // only for the host, from POST /api/rooms
  invite_code?: string;
}

export interface Settings {
  min_players: number;
  max_players: number;
  rounds: number;
  turn_seconds: number;
  vote_seconds: number;
  reveal_seconds: number;
}

export interface PlayerInfo {
  player_id: string;
  name: string;
  enrolled: boolean;
  ready: boolean;
  present: boolean;
  score: number;
  is_host: boolean;
}

export interface BodyInfo {
  body_id: string;
  body_name: string;
  in_play: boolean;
}

export interface HotSeat {
  body_id: string;
  body_name: string;
  turn: number;
  turns: number;
}

export interface RevealedBody {
  body_id: string;
  body_name: string;
  driver_id: string;
  driver_name: string;
  guessed_right: string[];
  fooled: string[];
}

export interface RoundResult {
  round: number;
  multiplier: number;
  bodies: RevealedBody[];
  points: Record<string, { correct: number; fooled: number; points: number }>;
}

export interface Rank {
  rank: number;
  player_id: string;
  name: string;
  score: number;
  correct: number;
  present: boolean;
}

/** `public_view`: what everyone may see. Never says who drives which body before a reveal. */
export interface PublicView {
  room_id: string;
  phase: Phase;
  round: number;
  rounds: number;
  multiplier: number;
  host_id: string | null;
  settings: Settings;
  players: PlayerInfo[];
  bodies: BodyInfo[];
  hot_seat: HotSeat | null;
  prompt: string | null;
  deadline: number | null;
  seconds_left: number | null;
  locked: string[];
  reveals: RoundResult[];
  ranks: Rank[] | null;
  /** The bodies' status in a game: 'starting' or 'waiting' (paused: no media server free yet). */
  media?: MediaStatus | null;
}

export interface MediaStatus {
  status: string;
  message: string | null;
}

/** `private_view`: what only this player may see. */
export interface PrivateView {
  player_id: string;
  name: string;
  is_host: boolean;
  present: boolean;
  body: { body_id: string; body_name: string } | null;
  in_hot_seat: boolean;
  guesses: Record<string, string>;
  locked: boolean;
}

/** A successful RPC, and GET /api/rooms/{id}/me. */
export interface Views {
  public: PublicView;
  private: PrivateView;
}

/** Messages on bodyswap.event and bodyswap.private: `kind` plus the event's fields. */
export interface GameEvent {
  kind: string;
  [field: string]: unknown;
}

export interface YourBodyEvent extends GameEvent {
  kind: 'your_body';
  round: number;
  body_id: string;
  body_name: string;
}

export function isYourBody(event: GameEvent): event is YourBodyEvent {
  return event.kind === 'your_body' && typeof event.body_id === 'string';
}

export function isBodyIdentity(identity: string): boolean {
  return identity.startsWith(BODY_PREFIX);
}

// The room service's HTTP API (room_service/openapi.yaml). Every failure becomes an ApiError whose
// message can be shown to a player as is.

import type { PlayerGrant, Views } from '../game/protocol';

export class ApiError extends Error {
  constructor(
    readonly status: number, // 0: the service could not be reached
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const SERVER_DOWN = new ApiError(
  0,
  'server_down',
  'We cannot reach the Bodyswap server. Check your connection, or try again in a moment.',
);

/** Plain words for the codes where the service's own message needs a next step added. */
const NEXT_STEP: Record<string, string> = {
  room_full: 'Ask the host to raise the player limit, or wait for the next game.',
  invite_expired: 'Ask the host for a fresh invite link.',
  bad_invite: 'Check that you opened the whole link the host sent.',
  room_not_found: 'The host may have ended it; ask them for a new link.',
  game_in_progress: 'You can join when this game is over.',
  rate_limited: '',
};

export function explain(error: ApiError): string {
  const extra = NEXT_STEP[error.code];
  return extra ? `${error.message} ${extra}` : error.message;
}

async function parse<T>(response: Response): Promise<T> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy or a crash; handled below
  }
  if (response.ok) return body as T;
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (error?.message) throw new ApiError(response.status, error.code ?? 'error', error.message);
  if (response.status >= 500) throw new ApiError(response.status, 'server_error', SERVER_DOWN.message);
  throw new ApiError(response.status, 'error', `Something went wrong (HTTP ${response.status}).`);
}

async function request<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers.Authorization = `Bearer ${key}`;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw SERVER_DOWN;
  }
  return parse<T>(response);
}

export const api = {
  createRoom: (name: string) => request<PlayerGrant & { invite_url: string; invite_code: string }>('POST', '/api/rooms', { name }),
  joinRoom: (roomId: string, name: string, invite: string) =>
    request<PlayerGrant>('POST', `/api/rooms/${encodeURIComponent(roomId)}/join`, { name, invite }),
  me: (grant: PlayerGrant) => request<Views>('GET', `/api/rooms/${grant.room_id}/me`, undefined, grant.player_key),
  leave: (grant: PlayerGrant) => request<unknown>('POST', `/api/rooms/${grant.room_id}/leave`, {}, grant.player_key),
  endRoom: (grant: PlayerGrant) => request<unknown>('POST', `/api/rooms/${grant.room_id}/end`, {}, grant.player_key),
  deleteMyData: (grant: PlayerGrant) =>
    request<unknown>('DELETE', `/api/rooms/${grant.room_id}/enrollment`, undefined, grant.player_key),
  renewGrant: (grant: PlayerGrant) => request<PlayerGrant>('POST', `/api/rooms/${grant.room_id}/grant`, undefined, grant.player_key),
};

/**
 * The LiveKit token to connect with now. Stored tokens expire (after an hour by default) and a
 * reload or a long drop may come later, so every connect asks for a fresh one; if the service
 * cannot be asked, the stored token is tried (it may well still be valid).
 */
export async function tokenFor(grant: PlayerGrant, which: 'ingest_token' | 'game_token'): Promise<string> {
  try {
    return (await api.renewGrant(grant))[which];
  } catch {
    return grant[which];
  }
}

export interface SampleBody {
  id: string;
  name: string;
  image_url: string;
}

export interface MirrorGrant {
  livekit_url: string;
  mirror_token: string;
  body_name: string;
  seconds: number;
}

/** The mirror: preview myself in one of the operator's sample bodies, before the game. */
export const mirror = {
  samples: () => request<{ samples: SampleBody[] }>('GET', '/api/samples'),
  start: (grant: PlayerGrant, sample: string) =>
    request<MirrorGrant>('POST', `/api/rooms/${grant.room_id}/mirror`, { sample }, grant.player_key),
  stop: (grant: PlayerGrant) => request<unknown>('DELETE', `/api/rooms/${grant.room_id}/mirror`, undefined, grant.player_key),
};

export interface EnrollmentResult extends Views {
  enrolled: true;
  speech_seconds: number;
}

/** PUT the enrollment (multipart photo + voice) with upload progress, which fetch cannot report. */
export function uploadEnrollment(
  grant: PlayerGrant,
  photo: Blob,
  voice: Blob,
  onProgress: (fraction: number) => void,
): Promise<EnrollmentResult> {
  const form = new FormData();
  form.append('photo', photo, 'photo.jpg');
  form.append('voice', voice, voice.type.includes('wav') ? 'voice.wav' : 'voice.webm');
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/rooms/${grant.room_id}/enrollment`);
    xhr.setRequestHeader('Authorization', `Bearer ${grant.player_key}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.upload.onload = () => onProgress(1);
    xhr.onerror = () => reject(SERVER_DOWN);
    xhr.onload = () => {
      const response = new Response(xhr.responseText || null, { status: xhr.status });
      parse<EnrollmentResult>(response).then(resolve, reject);
    };
    xhr.send(form);
  });
}

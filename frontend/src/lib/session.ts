// The player's grant. Each tab keeps its own in sessionStorage, so a reload puts the player back
// in their seat and several tabs on one machine can be several players. A copy in localStorage
// lets a closed tab come back through the room's address (/room/<id>).

import type { PlayerGrant } from '../game/protocol';

const KEY = (roomId: string) => `bodyswap.grant.${roomId}`;

export interface Seat {
  grant: PlayerGrant;
  name: string;
  /** The invite link to show in the lobby (the host gets it at creation; guests joined through it). */
  inviteUrl: string;
}

function read(storage: Storage, roomId: string): Seat | null {
  try {
    const seat = JSON.parse(storage.getItem(KEY(roomId)) ?? 'null') as Seat | null;
    return seat?.grant?.player_key ? seat : null;
  } catch {
    return null;
  }
}

export function saveSeat(seat: Seat): void {
  const json = JSON.stringify(seat);
  sessionStorage.setItem(KEY(seat.grant.room_id), json);
  localStorage.setItem(KEY(seat.grant.room_id), json);
}

/** This tab's seat in the room; with `orLastInBrowser`, else the last one this browser held there. */
export function loadSeat(roomId: string, orLastInBrowser = false): Seat | null {
  const own = read(sessionStorage, roomId);
  if (own || !orLastInBrowser) return own;
  const last = read(localStorage, roomId);
  if (last) sessionStorage.setItem(KEY(roomId), JSON.stringify(last));
  return last;
}

export function forgetSeat(roomId: string): void {
  sessionStorage.removeItem(KEY(roomId));
  localStorage.removeItem(KEY(roomId));
}

// The player's grant, kept in localStorage so that a reload (or a crashed tab) puts the player
// back in their seat. One grant per room; `forget` removes it when they leave.

import type { PlayerGrant } from '../game/protocol';

const KEY = (roomId: string) => `bodyswap.grant.${roomId}`;

export interface Seat {
  grant: PlayerGrant;
  name: string;
  /** The invite link to show in the lobby (the host gets it at creation; guests joined through it). */
  inviteUrl: string;
}

export function saveSeat(seat: Seat, storage: Storage = localStorage): void {
  storage.setItem(KEY(seat.grant.room_id), JSON.stringify(seat));
}

export function loadSeat(roomId: string, storage: Storage = localStorage): Seat | null {
  try {
    const seat = JSON.parse(storage.getItem(KEY(roomId)) ?? 'null') as Seat | null;
    return seat?.grant?.player_key ? seat : null;
  } catch {
    return null;
  }
}

export function forgetSeat(roomId: string, storage: Storage = localStorage): void {
  storage.removeItem(KEY(roomId));
}

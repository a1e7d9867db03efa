// What every in-room screen needs: the game store, the RPC to act with, and the player's seat.

import { createContext, useContext } from 'react';
import type { IngestStatus } from '../livekit/useIngest';
import type { Rpc } from '../livekit/useGameRoom';
import type { Seat } from '../lib/session';
import type { GameStore } from './gameState';

export interface GameContextValue {
  store: GameStore;
  rpc: Rpc;
  seat: Seat;
  stream: MediaStream | null;
  ingest: IngestStatus;
}

export const GameContext = createContext<GameContextValue | null>(null);

export function useGame(): GameContextValue {
  const value = useContext(GameContext);
  if (!value) throw new Error('useGame outside a room');
  return value;
}

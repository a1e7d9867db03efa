import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { vi } from 'vitest';
import { GameContext } from '../game/GameContext';
import { gameReducer, initialStore, type GameStore } from '../game/gameState';
import type { PrivateView, PublicView } from '../game/protocol';
import { privateView } from './fixtures';

export function storeOf(pub: PublicView, priv: Partial<PrivateView> = {}): GameStore {
  return gameReducer(initialStore, { type: 'views', views: { public: pub, private: privateView(priv) }, at: Date.now(), seq: 0 });
}

export function renderInGame(ui: ReactElement, store: GameStore) {
  const rpc = vi.fn(async () => ({ public: store.public!, private: store.private! }));
  const seat = {
    grant: { room_id: 'room1', player_id: store.private!.player_id, player_key: 'k', livekit_url: 'ws://x', ingest_token: 'i', game_token: 'g' },
    name: store.private!.name,
    inviteUrl: 'http://127.0.0.1:8080/join/room1?invite=code',
  };
  const result = render(
    <GameContext.Provider value={{ store, rpc, seat, stream: null, ingest: 'live' }}>{ui}</GameContext.Provider>,
  );
  return { ...result, rpc };
}

// The game room: bodies to watch, state and events from the game master, actions as RPCs to it.
// Reconnects by itself (LiveKit resumes short drops; we reconnect after longer ones) and asks the
// game master for a fresh picture (bodyswap.sync) every time it is back.

import { DisconnectReason, Room, RoomEvent, RpcError, type RemoteParticipant } from 'livekit-client';
import { useCallback, useEffect, useMemo, useReducer, useRef } from 'react';
import { gameReducer, initialStore, type GameStore } from '../game/gameState';
import { GAME_MASTER, RPC, TOPIC, type GameEvent, type PlayerGrant, type PublicView, type RpcMethod, type Views } from '../game/protocol';
import { api, ApiError, tokenFor } from '../lib/api';

export class ActionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const NOT_ANSWERING = 'The game server is not answering right now; try again in a moment.';
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000];

export type Rpc = (method: RpcMethod, payload?: Record<string, unknown>) => Promise<Views>;

export interface GameRoom {
  room: Room;
  store: GameStore;
  rpc: Rpc;
  /** Fetch my views over HTTP (works even while LiveKit is unreachable). */
  refresh: () => Promise<void>;
}

function actionError(error: unknown): ActionError {
  if (error instanceof RpcError) {
    let code = 'rpc_error';
    try {
      code = (JSON.parse(error.data ?? '{}') as { code?: string }).code ?? code;
    } catch {
      // no code attached: a transport failure
    }
    // Application errors carry the engine's message for players; transport errors do not.
    return error.code === RpcError.ErrorCode.APPLICATION_ERROR
      ? new ActionError(code, error.message)
      : new ActionError('unreachable', NOT_ANSWERING);
  }
  return new ActionError('unreachable', NOT_ANSWERING);
}

export function useGameRoom(grant: PlayerGrant): GameRoom {
  const [store, dispatch] = useReducer(gameReducer, initialStore);
  const room = useMemo(() => new Room({ adaptiveStream: true }), [grant.game_token]);
  const seq = useRef(0);
  seq.current = store.stateSeq;

  const rpc = useCallback<Rpc>(
    async (method, payload = {}) => {
      const sentAt = seq.current;
      let response: string;
      try {
        response = await room.localParticipant.performRpc({
          destinationIdentity: GAME_MASTER,
          method,
          payload: JSON.stringify(payload),
          responseTimeout: 10_000,
        });
      } catch (error) {
        throw actionError(error);
      }
      const views = JSON.parse(response) as Views;
      dispatch({ type: 'views', views, at: Date.now(), seq: sentAt });
      return views;
    },
    [room],
  );

  const refresh = useCallback(async () => {
    const sentAt = seq.current;
    try {
      const views = await api.me(grant);
      dispatch({ type: 'views', views, at: Date.now(), seq: sentAt });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
        dispatch({ type: 'removed', reason: 'This room has ended, or you are no longer in it.' });
      }
    }
  }, [grant]);

  // The first picture comes over HTTP, so the screen is right even before LiveKit connects.
  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => {
    let closed = false;
    let connected = false; // only a drop after a connect schedules a reconnect
    let retryTimer: number | undefined;

    const sync = async () => {
      for (const delay of RETRY_DELAYS_MS) {
        if (closed) return;
        try {
          await rpc(RPC.sync);
          return;
        } catch (error) {
          if ((error as ActionError).code !== 'unreachable') return;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    };

    const onData = (payload: Uint8Array, participant?: RemoteParticipant, _kind?: unknown, topic?: string) => {
      if (participant?.identity !== GAME_MASTER) return; // only the game master speaks for the game
      let message: unknown;
      try {
        message = JSON.parse(new TextDecoder().decode(payload));
      } catch {
        return;
      }
      if (topic === TOPIC.state) dispatch({ type: 'state', view: message as PublicView, at: Date.now() });
      else if (topic === TOPIC.event) dispatch({ type: 'event', event: message as GameEvent });
      else if (topic === TOPIC.private) dispatch({ type: 'private', event: message as GameEvent });
    };

    const connect = async (attempt: number) => {
      if (closed) return;
      dispatch({ type: 'connection', connection: attempt ? 'reconnecting' : 'connecting' });
      try {
        const token = await tokenFor(grant, 'game_token');
        if (closed) return;
        await room.connect(grant.livekit_url, token, { autoSubscribe: true });
        if (closed) return;
        connected = true;
        dispatch({ type: 'connection', connection: 'connected' });
        void sync();
      } catch {
        const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];
        retryTimer = window.setTimeout(() => void connect(attempt + 1), delay);
      }
    };

    const onDisconnected = (reason?: DisconnectReason) => {
      if (closed || !connected) return;
      connected = false;
      if (reason === DisconnectReason.ROOM_DELETED || reason === DisconnectReason.PARTICIPANT_REMOVED) {
        // The room ended or we were removed; the service says which.
        api.me(grant).catch(() => dispatch({ type: 'removed', reason: 'This room has ended.' }));
      }
      retryTimer = window.setTimeout(() => void connect(1), 1000);
    };

    room
      .on(RoomEvent.DataReceived, onData)
      // Signalling lost (media may still flow) or everything lost: either way, say so until resumed.
      .on(RoomEvent.SignalReconnecting, () => dispatch({ type: 'connection', connection: 'reconnecting' }))
      .on(RoomEvent.Reconnecting, () => dispatch({ type: 'connection', connection: 'reconnecting' }))
      .on(RoomEvent.Reconnected, () => {
        dispatch({ type: 'connection', connection: 'connected' });
        void sync();
      })
      .on(RoomEvent.ParticipantConnected, (p) => p.identity === GAME_MASTER && void sync())
      .on(RoomEvent.Disconnected, onDisconnected);
    void connect(0);

    return () => {
      closed = true;
      window.clearTimeout(retryTimer);
      room.removeAllListeners();
      void room.disconnect();
    };
  }, [room, grant, rpc]);

  // A new phase or round can change what only I know (my body, my ballot): ask for it.
  const phaseKey = `${store.public?.phase}:${store.public?.round}`;
  useEffect(() => {
    if (store.connection === 'connected' && store.public) void rpc(RPC.sync).catch(() => undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [phaseKey]);

  return { room, store, rpc, refresh };
}

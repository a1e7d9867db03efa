// A player's seat: media check, then enrollment, lobby and the game, by the game's phase.

import { RoomContext, StartAudio } from '@livekit/components-react';
import { useEffect, useMemo, useState } from 'react';
import { Screen } from '../components/ui';
import { EnrollmentFlow } from '../enrollment/EnrollmentFlow';
import { BodyAudio } from '../game/Bodies';
import { FinalScreen } from '../game/FinalScreen';
import { GameContext } from '../game/GameContext';
import { mePlayer, myBodyNow, type GameStore } from '../game/gameState';
import { Lobby } from '../game/Lobby';
import { RevealScreen } from '../game/RevealScreen';
import { TurnsScreen } from '../game/TurnsScreen';
import { VoteScreen } from '../game/VoteScreen';
import { useGameRoom } from '../livekit/useGameRoom';
import { useIngest } from '../livekit/useIngest';
import { useLocalMedia } from '../media/useLocalMedia';
import { api } from '../lib/api';
import { navigate } from '../lib/route';
import { forgetSeat, loadSeat, type Seat } from '../lib/session';
import { DeviceCheck } from './DeviceCheck';

const CHECKED = (roomId: string) => `bodyswap.checked.${roomId}`;

export function RoomScreen({ roomId }: { roomId: string }) {
  const seat = useMemo(() => loadSeat(roomId, true), [roomId]);
  if (!seat) {
    return (
      <Screen title="You are not in this room">
        <p>This browser has no seat in this room. Open the invite link the host sent you to join.</p>
        <a href="/">Start a new game</a>
      </Screen>
    );
  }
  return <SeatView seat={seat} />;
}

function SeatView({ seat }: { seat: Seat }) {
  const roomId = seat.grant.room_id;
  const [checked, setChecked] = useState(() => sessionStorage.getItem(CHECKED(roomId)) === '1');
  // After a reload the devices were already checked: reopen them straight away.
  const media = useLocalMedia(checked);
  const ingest = useIngest(seat.grant, media.stream);
  const { room, store, rpc, refresh } = useGameRoom(seat.grant);

  async function leave() {
    if (!window.confirm('Leave this room? Your photo and voice are deleted, and you cannot come back into this game.')) return;
    await api.leave(seat.grant).catch(() => undefined);
    forgetSeat(roomId);
    navigate('/');
  }

  if (store.removed) {
    return (
      <Screen title="You are out of this room">
        <p>{store.removed}</p>
        <button
          type="button"
          className="primary"
          onClick={() => {
            forgetSeat(roomId);
            navigate('/');
          }}
        >
          Back to the start
        </button>
      </Screen>
    );
  }

  let content;
  if (!checked || !media.stream) {
    content = (
      <DeviceCheck
        media={media}
        onContinue={() => {
          sessionStorage.setItem(CHECKED(roomId), '1');
          setChecked(true);
        }}
      />
    );
  } else {
    content = <PhaseView store={store} seat={seat} stream={media.stream} onEnrolled={() => void refresh()} onLeave={() => void leave()} />;
  }

  return (
    <RoomContext.Provider value={room}>
      <GameContext.Provider value={{ store, rpc, seat, stream: media.stream, ingest }}>
        <div className="topbar">
          <span className="logo small">Bodyswap</span>
          <span className={`connection ${store.connection}`} role="status">
            {CONNECTION_LABELS[store.connection]}
          </span>
          <span className="who">{seat.name}</span>
          <button type="button" className="small" onClick={() => void leave()}>
            Leave
          </button>
        </div>
        {content}
        <BodyAudio mine={myBodyNow(store)?.body_id} />
        <StartAudio label="Click to hear the other players" className="start-audio" />
      </GameContext.Provider>
    </RoomContext.Provider>
  );
}

const CONNECTION_LABELS = {
  offline: 'offline',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
};

function PhaseView({
  store,
  seat,
  stream,
  onEnrolled,
  onLeave,
}: {
  store: GameStore;
  seat: Seat;
  stream: MediaStream;
  onEnrolled: () => void;
  onLeave: () => void;
}) {
  const view = store.public;
  const screenKey = `${view?.phase}:${view?.round}:${mePlayer(store)?.enrolled}`;
  useEffect(() => {
    // A new screen: move keyboard focus (and screen readers) to its title.
    const heading = document.querySelector<HTMLElement>('main h1, main .round-header .phase');
    if (!heading || document.activeElement?.closest('main') === heading.closest('main')) return;
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }, [screenKey]);
  if (!view) return <Screen title="Joining…">{null}</Screen>;
  switch (view.phase) {
    case 'lobby':
      return mePlayer(store)?.enrolled === false ? (
        <EnrollmentFlow grant={seat.grant} stream={stream} inviteUrl={seat.inviteUrl} onEnrolled={onEnrolled} />
      ) : (
        <Lobby />
      );
    case 'turns':
      return <TurnsScreen />;
    case 'vote':
      return <VoteScreen />;
    case 'reveal':
      return <RevealScreen />;
    case 'final':
      return <FinalScreen onLeave={onLeave} />;
  }
}

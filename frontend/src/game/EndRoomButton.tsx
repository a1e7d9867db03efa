// The host's way to close the room for everyone: the service deletes it with every photo and
// voice recorded in it, and the other players see that the room has ended.

import { useState } from 'react';
import { ErrorNote } from '../components/ui';
import { api } from '../lib/api';
import { navigate } from '../lib/route';
import { forgetSeat } from '../lib/session';
import { useGame } from './GameContext';

export function EndRoomButton() {
  const { seat } = useGame();
  const [error, setError] = useState('');

  async function end() {
    if (!window.confirm('End this room for everyone? It closes for all players and every photo and voice in it is deleted.')) return;
    setError('');
    try {
      await api.endRoom(seat.grant);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    forgetSeat(seat.grant.room_id);
    navigate('/');
  }

  return (
    <>
      <button type="button" className="link" onClick={() => void end()}>
        End the room for everyone
      </button>
      <ErrorNote>{error}</ErrorNote>
    </>
  );
}

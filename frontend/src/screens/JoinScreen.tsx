import { useEffect, useState, type FormEvent } from 'react';
import { ErrorNote } from '../components/ui';
import type { PublicView } from '../game/protocol';
import { api, ApiError, explain, SERVER_DOWN } from '../lib/api';
import { navigate, roomPath } from '../lib/route';
import { loadSeat, saveSeat } from '../lib/session';

async function peek(roomId: string): Promise<PublicView> {
  let response: Response;
  try {
    response = await fetch(`/api/rooms/${encodeURIComponent(roomId)}`);
  } catch {
    throw SERVER_DOWN;
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error;
    throw new ApiError(response.status, error?.code ?? 'error', error?.message ?? SERVER_DOWN.message);
  }
  return body as PublicView;
}

export function JoinScreen({ roomId, invite }: { roomId: string; invite: string }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [room, setRoom] = useState<PublicView | null>(null);

  useEffect(() => {
    if (loadSeat(roomId)) {
      navigate(roomPath(roomId)); // already in this room: back to the seat
      return;
    }
    peek(roomId).then(setRoom, (e) => setError(e instanceof ApiError ? explain(e) : String(e)));
  }, [roomId]);

  const full = room ? room.players.length >= room.settings.max_players : false;
  const started = room ? room.phase !== 'lobby' : false;
  const host = room?.players.find((p) => p.is_host)?.name;

  async function join(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const grant = await api.joinRoom(roomId, name.trim(), invite);
      saveSeat({ grant, name: name.trim(), inviteUrl: window.location.href });
      navigate(roomPath(roomId));
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
      setBusy(false);
    }
  }

  return (
    <main className="screen hero">
      <h1 className="logo">Bodyswap</h1>
      <form className="card" onSubmit={join}>
        <h2>{host ? `Join ${host}'s game` : 'Join a game'}</h2>
        {room && (
          <p className="hint">
            {room.players.length} of {room.settings.max_players} players here: {room.players.map((p) => p.name).join(', ')}
          </p>
        )}
        {!invite && <ErrorNote>This link has no invite code. Ask the host to send the whole link again.</ErrorNote>}
        {full && <ErrorNote>This room is full ({room!.settings.max_players} players). Ask the host to raise the limit.</ErrorNote>}
        {started && <ErrorNote>A game is under way in this room; you can join the next one.</ErrorNote>}
        <label htmlFor="guest-name">Your name</label>
        <input
          id="guest-name"
          value={name}
          maxLength={32}
          autoComplete="nickname"
          required
          autoFocus
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="primary" disabled={busy || !name.trim() || !invite}>
          {busy ? 'Joining…' : 'Join'}
        </button>
        <ErrorNote>{error}</ErrorNote>
        <p className="hint">Next you will check your camera and microphone.</p>
      </form>
    </main>
  );
}

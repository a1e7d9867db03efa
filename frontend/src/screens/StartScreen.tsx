import { useState, type FormEvent } from 'react';
import { ErrorNote } from '../components/ui';
import { api, ApiError, explain } from '../lib/api';
import { navigate, roomPath } from '../lib/route';
import { saveSeat } from '../lib/session';

export function StartScreen() {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function create(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const grant = await api.createRoom(name.trim());
      saveSeat({ grant, name: name.trim(), inviteUrl: grant.invite_url });
      navigate(roomPath(grant.room_id));
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
      setBusy(false);
    }
  }

  return (
    <main className="screen hero">
      <h1 className="logo">Bodyswap</h1>
      <p className="tagline">
        A video-call party game. Everyone appears in someone else's body, face and voice. Act the part, ask
        questions, and guess who is really inside each body.
      </p>
      <form className="card" onSubmit={create}>
        <h2>Start a game</h2>
        <label htmlFor="host-name">Your name</label>
        <input
          id="host-name"
          value={name}
          maxLength={32}
          autoComplete="nickname"
          required
          autoFocus
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          {busy ? 'Creating…' : 'Create a room'}
        </button>
        <ErrorNote>{error}</ErrorNote>
        <p className="hint">You will get an invite link to send to 2 to 7 friends. Everyone needs a webcam and a microphone.</p>
      </form>
    </main>
  );
}

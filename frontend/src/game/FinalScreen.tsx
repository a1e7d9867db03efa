import { useState } from 'react';
import { ErrorNote } from '../components/ui';
import { EndRoomButton } from './EndRoomButton';
import { useGame } from './GameContext';
import { isHost } from './gameState';
import { RPC } from './protocol';

const PLACES = ['1st', '2nd', '3rd'];

export function FinalScreen({ onLeave }: { onLeave: () => void }) {
  const { store, rpc } = useGame();
  const [error, setError] = useState('');
  const ranks = store.public?.ranks ?? [];
  const me = store.private?.player_id;
  const winners = ranks.filter((r) => r.rank === 1).map((r) => (r.player_id === me ? 'You' : r.name));
  return (
    <main className="screen">
      <h1>{winners.length ? `${winners.join(' and ')} win${winners.length === 1 && winners[0] !== 'You' ? 's' : ''}!` : 'Game over'}</h1>
      <ol className="ranks card" aria-label="Final ranking">
        {ranks.map((r) => (
          <li key={r.player_id} className={r.player_id === me ? 'me' : ''}>
            <span className={`rank place-${r.rank}`}>{PLACES[r.rank - 1] ?? `${r.rank}th`}</span>
            <span className="name">
              {r.name}
              {!r.present && ' (left)'}
            </span>
            <span className="score">{r.score} points</span>
            <span className="hint">{r.correct} right</span>
          </li>
        ))}
      </ol>
      <p className="hint">Your photo and voice for this game have been deleted. Playing again means a new photo and recording.</p>
      <div className="actions">
        {isHost(store) ? (
          <button type="button" className="primary" onClick={() => rpc(RPC.playAgain).catch((e) => setError(e.message))}>
            Play again
          </button>
        ) : (
          <p>Waiting for the host to start another game…</p>
        )}
        <button type="button" onClick={onLeave}>
          Leave
        </button>
      </div>
      {isHost(store) && <EndRoomButton />}
      <ErrorNote>{error}</ErrorNote>
    </main>
  );
}

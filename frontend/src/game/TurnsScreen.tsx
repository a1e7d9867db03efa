import { useState } from 'react';
import { ErrorNote } from '../components/ui';
import { BodyGrid } from './BodyGrid';
import { useGame } from './GameContext';
import { inHotSeat, isHost } from './gameState';
import { RPC } from './protocol';
import { RoundHeader } from './RoundHeader';
import { SelfView } from './SelfView';

export function TurnsScreen() {
  const { store, rpc } = useGame();
  const [error, setError] = useState('');
  const view = store.public!;
  const mine = inHotSeat(store);
  const hot = view.hot_seat;

  async function pass() {
    setError('');
    await rpc(RPC.pass).catch((e) => setError(e.message));
  }

  return (
    <main className="screen wide game">
      <RoundHeader />
      <section className={`prompt-card ${mine ? 'mine' : ''}`} aria-live="polite">
        <p className="prompt-who">
          {mine ? 'Your turn! Answer in character:' : hot ? `${hot.body_name} answers:` : ''}
          {hot && (
            <span className="turn-count">
              {' '}
              (turn {hot.turn} of {hot.turns})
            </span>
          )}
        </p>
        <p className="prompt">{view.prompt}</p>
        {(mine || isHost(store)) && (
          <button type="button" className={mine ? 'primary' : ''} onClick={() => void pass()}>
            {mine ? 'Done, next turn' : 'Skip this turn'}
          </button>
        )}
        <ErrorNote>{error}</ErrorNote>
      </section>
      <div className="stage">
        <BodyGrid />
        <SelfView />
      </div>
    </main>
  );
}

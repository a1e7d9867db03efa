// The secret vote: for every other body, who is inside it. Drafts are sent unlocked (so a reload
// keeps them); "Lock in" makes them final.

import { useEffect, useRef, useState } from 'react';
import { ErrorNote } from '../components/ui';
import { useGame } from './GameContext';
import { bodiesToVoteOn, suspects } from './gameState';
import { RPC } from './protocol';

export function Ballot() {
  const { store, rpc } = useGame();
  const locked = store.private?.locked ?? false;
  const [guesses, setGuesses] = useState<Record<string, string>>(() => ({ ...(store.private?.guesses ?? {}) }));
  const [error, setError] = useState('');
  const [locking, setLocking] = useState(false);
  // One call at a time, in order: a draft still in flight must never land after the lock.
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const bodies = bodiesToVoteOn(store);
  const people = suspects(store);

  // After a reload the server's draft arrives with the first sync.
  const serverGuesses = JSON.stringify(store.private?.guesses ?? {});
  useEffect(() => {
    if (Object.keys(guesses).length === 0) setGuesses(JSON.parse(serverGuesses));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [serverGuesses]);

  function send(next: Record<string, string>, lock: boolean) {
    setError('');
    if (lock) setLocking(true);
    const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v));
    queue.current = queue.current
      .then(() => rpc(RPC.vote, { guesses: clean, lock }))
      .catch((e) => setError((e as Error).message))
      .finally(() => lock && setLocking(false));
  }

  function choose(bodyId: string, playerId: string) {
    const next = { ...guesses };
    for (const [b, p] of Object.entries(next)) if (p === playerId && playerId) delete next[b]; // one body each
    next[bodyId] = playerId;
    setGuesses(next);
    send(next, false);
  }

  return (
    <form
      className="card ballot"
      aria-labelledby="ballot-title"
      onSubmit={(e) => {
        e.preventDefault();
        send(guesses, true);
      }}
    >
      <h2 id="ballot-title">Who is inside each body?</h2>
      {bodies.map((body) => (
        <div className="ballot-row" key={body.body_id}>
          <label htmlFor={`guess-${body.body_id}`}>Inside {body.body_name}'s body:</label>
          <select
            id={`guess-${body.body_id}`}
            value={guesses[body.body_id] ?? ''}
            disabled={locked}
            onChange={(e) => choose(body.body_id, e.target.value)}
          >
            <option value="">— choose —</option>
            {/* Nobody wears their own body, so its owner is never the answer. */}
            {people.filter((p) => p.name !== body.body_name).map((p) => (
              <option key={p.player_id} value={p.player_id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      ))}
      <ErrorNote>{error}</ErrorNote>
      <div className="actions">
        {locked ? (
          <p className="locked-note">Your vote is locked in.</p>
        ) : (
          <button type="submit" className="primary" disabled={locking}>
            Lock in my vote
          </button>
        )}
      </div>
      {!locked && <p className="hint">You can change your answers until you lock in. Unanswered bodies count as no guess.</p>}
    </form>
  );
}

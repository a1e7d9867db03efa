import { useState } from 'react';
import { ErrorNote } from '../components/ui';
import { api } from '../lib/api';
import { EndRoomButton } from './EndRoomButton';
import { useGame } from './GameContext';
import { isHost, mePlayer, startBlocker } from './gameState';
import { InviteLink } from './InviteLink';
import { Mirror } from './Mirror';
import { RPC } from './protocol';
import { SettingsForm } from './SettingsForm';

export function Lobby() {
  const { store, rpc, seat, ingest } = useGame();
  const [error, setError] = useState('');
  const view = store.public!;
  const me = mePlayer(store);
  const host = isHost(store);
  const blocker = startBlocker(view);
  const act = (method: Parameters<typeof rpc>[0], payload?: Record<string, unknown>) => {
    setError('');
    rpc(method, payload).catch((e) => setError(e.message));
  };

  async function deleteMyData() {
    if (!window.confirm('Delete your photo and voice now? You will need to record them again to play.')) return;
    try {
      await api.deleteMyData(seat.grant);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <main className="screen wide">
      <h1>Lobby</h1>
      <div className="lobby">
        <section className="card" aria-labelledby="players-title">
          <h2 id="players-title">
            Players ({view.players.length} of {view.settings.max_players})
          </h2>
          <ul className="players">
            {view.players.map((p) => (
              <li key={p.player_id}>
                <span className="name">
                  {p.name}
                  {p.player_id === me?.player_id && ' (you)'}
                </span>
                {p.is_host && <span className="chip host">host</span>}
                <span className={`chip ${p.enrolled ? 'ok' : ''}`}>{p.enrolled ? 'body ready' : 'making body…'}</span>
                {!p.is_host && <span className={`chip ${p.ready ? 'ok' : ''}`}>{p.ready ? 'ready' : 'not ready'}</span>}
                {host && p.player_id !== me?.player_id && (
                  <button type="button" className="small" aria-label={`Remove ${p.name}`} onClick={() => act(RPC.kick, { player_id: p.player_id })}>
                    Remove
                  </button>
                )}
              </li>
            ))}
          </ul>
          <InviteLink url={seat.inviteUrl} />
        </section>
        <section className="card" aria-labelledby="you-title">
          <h2 id="you-title">{host ? 'You are the host' : 'Get ready'}</h2>
          <p className="hint">Camera for the game: {ingest === 'live' ? 'connected' : 'connecting…'}</p>
          {host ? (
            <>
              <SettingsForm />
              <button type="button" className="primary big" disabled={!!blocker} onClick={() => act(RPC.start)}>
                Start the game
              </button>
              {blocker && <p className="hint">{blocker}</p>}
              {!blocker && view.players.length === 2 && (
                <p className="hint">
                  With two players you each wear the other's body, so the guessing is easy: a trial run. Bodyswap is
                  best with 4 to 6.
                </p>
              )}
            </>
          ) : (
            <>
              <p>
                {view.settings.rounds} rounds · {view.settings.turn_seconds} s turns · {view.settings.vote_seconds} s vote
              </p>
              <button
                type="button"
                className={me?.ready ? '' : 'primary big'}
                aria-pressed={me?.ready ?? false}
                onClick={() => act(RPC.ready, { ready: !me?.ready })}
              >
                {me?.ready ? "I'm not ready" : "I'm ready"}
              </button>
              <p className="hint">{me?.ready ? 'Waiting for the host to start.' : 'Press when you are ready to play.'}</p>
            </>
          )}
          <ErrorNote>{error}</ErrorNote>
          <details className="how-to">
            <summary>How to play</summary>
            <ol>
              <li>Everyone gets someone else's body: their face and voice, moved by you.</li>
              <li>Take turns in the hot seat answering a question, in the style of the body you wear.</li>
              <li>Vote in secret on who is inside each body. 100 points per right guess; 50 each time you fool someone.</li>
            </ol>
          </details>
          <button type="button" className="link" onClick={() => void deleteMyData()}>
            Delete my photo and voice
          </button>
          {host && <EndRoomButton />}
        </section>
      </div>
      {me?.enrolled && <Mirror />}
    </main>
  );
}

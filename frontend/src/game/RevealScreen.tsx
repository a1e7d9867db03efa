import { useGame } from './GameContext';
import { latestReveal, listing, playerName } from './gameState';
import { RoundHeader } from './RoundHeader';
import { Scoreboard } from './Scoreboard';

export function RevealScreen() {
  const { store } = useGame();
  const result = latestReveal(store);
  const me = store.private?.player_id;
  const last = store.public!.round >= store.public!.rounds;
  if (!result) return null;
  return (
    <main className="screen wide game">
      <RoundHeader />
      <h2>Who was inside?</h2>
      <ol className="reveals">
        {result.bodies.map((body, index) => {
          const right = body.guessed_right.map((id) => playerName(store, id));
          const fooled = body.fooled.map((id) => playerName(store, id));
          const iGotIt = me !== undefined && body.guessed_right.includes(me);
          return (
            <li key={body.body_id} className="reveal-card" style={{ animationDelay: `${index * 0.6}s` }}>
              <p>
                <strong>{body.body_name}</strong>'s body was worn by{' '}
                <strong className="driver">{body.driver_id === me ? 'you' : body.driver_name}</strong>
              </p>
              <p className="hint">
                {right.length ? `${listing(right)} guessed right.` : 'Nobody guessed right.'}{' '}
                {fooled.length ? `${listing(fooled)} ${fooled.length === 1 ? 'was' : 'were'} fooled.` : ''}
                {iGotIt && ' You got it!'}
              </p>
            </li>
          );
        })}
      </ol>
      <Scoreboard roundPoints={result.points} />
      <p className="hint">{last ? 'Final results next…' : 'Next round soon: new bodies for everyone.'}</p>
    </main>
  );
}

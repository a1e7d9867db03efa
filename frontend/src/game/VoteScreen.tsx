import { Ballot } from './Ballot';
import { BodyGrid } from './BodyGrid';
import { useGame } from './GameContext';
import { RoundHeader } from './RoundHeader';
import { SelfView } from './SelfView';

export function VoteScreen() {
  const { store } = useGame();
  const view = store.public!;
  const present = view.players.filter((p) => p.present);
  return (
    <main className="screen wide game">
      <RoundHeader />
      <div className="vote-layout">
        <div>
          <BodyGrid size="small" />
          <SelfView />
        </div>
        <div>
          <Ballot />
          <section className="card" aria-label="Who has locked in">
            <h3>
              Locked in: {view.locked.length} of {present.length}
            </h3>
            <ul className="lock-list">
              {present.map((p) => (
                <li key={p.player_id} className={view.locked.includes(p.player_id) ? 'ok' : ''}>
                  {p.name}: {view.locked.includes(p.player_id) ? 'locked in' : 'choosing…'}
                </li>
              ))}
            </ul>
          </section>
        </div>
      </div>
    </main>
  );
}

import { useGame } from './GameContext';
import { scoreboard } from './gameState';

export function Scoreboard({ roundPoints }: { roundPoints?: Record<string, { points: number }> }) {
  const { store } = useGame();
  const me = store.private?.player_id;
  return (
    <table className="scoreboard">
      <caption>Scores</caption>
      <thead>
        <tr>
          <th scope="col">Player</th>
          {roundPoints && <th scope="col">This round</th>}
          <th scope="col">Total</th>
        </tr>
      </thead>
      <tbody>
        {scoreboard(store).map((p) => (
          <tr key={p.player_id} className={p.player_id === me ? 'me' : ''}>
            <th scope="row">
              {p.name}
              {p.player_id === me && ' (you)'}
              {!p.present && ' (left)'}
            </th>
            {roundPoints && <td>+{roundPoints[p.player_id]?.points ?? 0}</td>}
            <td>{p.score}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

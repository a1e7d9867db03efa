import { Timer, useNow } from '../components/ui';
import { useGame } from './GameContext';
import { secondsLeft } from './gameState';

const PHASE_TITLES = { lobby: 'Lobby', turns: 'Questions', vote: 'Vote', reveal: 'Reveal', final: 'Results' };

export function RoundHeader() {
  const { store } = useGame();
  const now = useNow(250);
  const view = store.public!;
  return (
    <header className="round-header">
      <span className="phase">{PHASE_TITLES[view.phase]}</span>
      <span>
        Round {view.round} of {view.rounds}
        {view.multiplier > 1 && <span className="multiplier"> · points ×{view.multiplier}</span>}
      </span>
      <Timer seconds={secondsLeft(store, now)} label="Time left" />
    </header>
  );
}

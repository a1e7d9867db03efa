import { Timer, useNow } from '../components/ui';
import { useGame } from './GameContext';
import { isHost, secondsLeft } from './gameState';
import { MediaBanner } from './MediaBanner';
import { RPC } from './protocol';

const PHASE_TITLES = { lobby: 'Lobby', turns: 'Questions', vote: 'Vote', reveal: 'Reveal', final: 'Results' };

export function RoundHeader() {
  const { store, rpc } = useGame();
  const now = useNow(250);
  const view = store.public!;
  return (
    <>
    <MediaBanner media={view.media} host={isHost(store)} onCancel={() => rpc(RPC.cancel)} />
    <header className="round-header">
      <span className="phase">{PHASE_TITLES[view.phase]}</span>
      <span>
        Round {view.round} of {view.rounds}
        {view.multiplier > 1 && <span className="multiplier"> · points ×{view.multiplier}</span>}
      </span>
      <Timer seconds={secondsLeft(store, now)} label="Time left" />
    </header>
    </>
  );
}

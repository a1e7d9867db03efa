import { useGame } from './GameContext';
import { BodyTile, useBodyVideos } from './Bodies';
import { myBodyNow } from './gameState';

/** "You are wearing X": the body I drive, as the others see it. */
export function SelfView() {
  const { store } = useGame();
  const videos = useBodyVideos();
  const body = myBodyNow(store);
  if (!body) return null;
  return (
    <aside className="self-view" aria-label="Your body">
      <p className="wearing">
        You are wearing <strong>{body.body_name}</strong>
      </p>
      <BodyTile name={body.body_name} video={videos.get(body.body_id)} size="small" />
      <p className="hint">Act like {body.body_name}!</p>
    </aside>
  );
}

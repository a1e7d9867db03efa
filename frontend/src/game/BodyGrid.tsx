import { BodyTile, useBodyVideos } from './Bodies';
import { useGame } from './GameContext';
import { myBodyNow } from './gameState';

/** Every in-play body but mine, the hot seat highlighted. */
export function BodyGrid({ size = 'large' }: { size?: 'large' | 'small' }) {
  const { store } = useGame();
  const videos = useBodyVideos();
  const mine = myBodyNow(store)?.body_id;
  const hot = store.public?.hot_seat?.body_id;
  const bodies = (store.public?.bodies ?? []).filter((b) => b.in_play && b.body_id !== mine);
  return (
    <section className={`body-grid ${size}`} aria-label="The other bodies">
      {bodies.map((b) => {
        const video = videos.get(b.body_id);
        return <BodyTile key={b.body_id} name={video?.participant.name || b.body_name} video={video} hot={b.body_id === hot} size={size} />;
      })}
    </section>
  );
}

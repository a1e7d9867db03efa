// While the bodies cannot start (every media server busy), the game is paused: say so plainly,
// and let the host take everyone back to the lobby to try again later.

import { useState } from 'react';
import type { MediaStatus } from './protocol';

export function MediaBanner({
  media,
  host,
  onCancel,
}: {
  media: MediaStatus | null | undefined;
  host: boolean;
  onCancel: () => Promise<unknown>;
}) {
  const [error, setError] = useState<string | null>(null);
  if (!media || !media.message || (media.status !== 'starting' && media.status !== 'waiting')) return null;
  return (
    <div className="media-banner" role="status">
      <p>{media.message}</p>
      {host && media.status === 'waiting' && (
        <button type="button" onClick={() => onCancel().catch((e: Error) => setError(e.message))}>
          Back to the lobby
        </button>
      )}
      {error && <p role="alert">{error}</p>}
    </div>
  );
}


// Publishes the player's raw camera and microphone into their private ingest room, where only the
// media agent (and the service's one-frame consent check) can see them. Nobody else ever receives
// them. Dynacast stops encoding video while nobody subscribes (most of the lobby).

import { Room, RoomEvent, Track } from 'livekit-client';
import { useEffect, useState } from 'react';
import type { PlayerGrant } from '../game/protocol';
import { tokenFor } from '../lib/api';

export type IngestStatus = 'off' | 'connecting' | 'live' | 'retrying';

export function useIngest(grant: PlayerGrant, stream: MediaStream | null): IngestStatus {
  const [status, setStatus] = useState<IngestStatus>('off');
  useEffect(() => {
    if (!stream) return;
    const [video] = stream.getVideoTracks();
    const [audio] = stream.getAudioTracks();
    const room = new Room({ dynacast: true });
    let closed = false;
    let live = false; // only a drop after we were live schedules a reconnect
    let retryTimer: number | undefined;

    const connect = async (attempt: number) => {
      if (closed) return;
      setStatus(attempt ? 'retrying' : 'connecting');
      try {
        const token = await tokenFor(grant, 'ingest_token');
        if (closed) return;
        await room.connect(grant.livekit_url, token, { autoSubscribe: false });
        await room.localParticipant.publishTrack(video, {
          source: Track.Source.Camera,
          simulcast: false,
          videoEncoding: { maxBitrate: 800_000, maxFramerate: 15 },
        });
        await room.localParticipant.publishTrack(audio, { source: Track.Source.Microphone, dtx: false });
        live = true;
        if (!closed) setStatus('live');
      } catch {
        await room.disconnect(false);
        retryTimer = window.setTimeout(() => void connect(attempt + 1), Math.min(8000, 1000 * 2 ** attempt));
      }
    };
    room.on(RoomEvent.SignalReconnecting, () => setStatus('retrying'));
    room.on(RoomEvent.Reconnecting, () => setStatus('retrying'));
    room.on(RoomEvent.Reconnected, () => setStatus('live'));
    room.on(RoomEvent.Disconnected, () => {
      if (closed || !live) return;
      live = false;
      retryTimer = window.setTimeout(() => void connect(1), 1000);
    });
    void connect(0);
    return () => {
      closed = true;
      window.clearTimeout(retryTimer);
      room.removeAllListeners();
      void room.disconnect(false); // the tracks belong to the page: never stop them here
    };
  }, [grant, stream]);
  return stream ? status : 'off';
}

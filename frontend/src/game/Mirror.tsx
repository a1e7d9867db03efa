// The mirror: before the game, an enrolled player sees (and may hear) themselves in one of the
// operator's sample bodies, in a LiveKit room only they can watch. Hidden when the operator set no
// sample bodies.

import { AudioTrack, RoomContext, useTracks, type TrackReference } from '@livekit/components-react';
import { Room, Track } from 'livekit-client';
import { useEffect, useMemo, useState } from 'react';
import { ErrorNote, useNow } from '../components/ui';
import { mirror, type MirrorGrant, type SampleBody } from '../lib/api';
import { BodyTile } from './Bodies';
import { useGame } from './GameContext';

const MIRROR_BODY = 'body-mirror';

export function Mirror() {
  const { seat } = useGame();
  const [samples, setSamples] = useState<SampleBody[] | null>(null);
  const [session, setSession] = useState<MirrorGrant | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    mirror.samples().then(
      (r) => setSamples(r.samples),
      () => setSamples([]),
    );
  }, []);

  async function start(sample: SampleBody) {
    setError('');
    setBusy(true);
    try {
      setSession(await mirror.start(seat.grant, sample.id));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function stop() {
    setSession(null);
    mirror.stop(seat.grant).catch(() => undefined); // it also stops by itself
  }

  if (!samples?.length) return null;
  return (
    <section className="card mirror" aria-labelledby="mirror-title">
      <h2 id="mirror-title">Mirror: try on a body</h2>
      {session ? (
        <MirrorView grant={session} onStop={stop} />
      ) : (
        <>
          <p className="hint">See yourself in a sample body before the game, to check the swap works on you.</p>
          <ul className="samples">
            {samples.map((s) => (
              <li key={s.id}>
                <button type="button" className="sample" disabled={busy} onClick={() => void start(s)} aria-label={`Try on ${s.name}`}>
                  <img src={s.image_url} alt="" />
                  <span>{s.name}</span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <ErrorNote>{error}</ErrorNote>
    </section>
  );
}

function MirrorView({ grant, onStop }: { grant: MirrorGrant; onStop: () => void }) {
  const room = useMemo(() => new Room({ adaptiveStream: true }), [grant.mirror_token]);
  const [startedAt] = useState(() => Date.now());
  const [hear, setHear] = useState(false);
  const now = useNow(500);
  const left = Math.max(0, Math.ceil(grant.seconds - (now - startedAt) / 1000));

  useEffect(() => {
    void room.connect(grant.livekit_url, grant.mirror_token, { autoSubscribe: true }).catch(() => undefined);
    return () => void room.disconnect();
  }, [room, grant]);
  useEffect(() => {
    if (left === 0) onStop();
  }, [left, onStop]);

  return (
    <RoomContext.Provider value={room}>
      <MirrorBody name={grant.body_name} hear={hear} />
      <label className="checkbox">
        <input type="checkbox" checked={hear} onChange={(e) => setHear(e.target.checked)} />
        Hear my voice as {grant.body_name} (use headphones)
      </label>
      <div className="actions">
        <button type="button" onClick={onStop}>
          Stop the mirror
        </button>
        <span className="hint">{left} s left</span>
      </div>
    </RoomContext.Provider>
  );
}

function MirrorBody({ name, hear }: { name: string; hear: boolean }) {
  const refs = useTracks([Track.Source.Camera, Track.Source.Microphone], { onlySubscribed: true }).filter(
    (r) => r.participant.identity === MIRROR_BODY && r.publication?.track,
  ) as TrackReference[];
  const video = refs.find((r) => r.source === Track.Source.Camera);
  const voice = refs.find((r) => r.source === Track.Source.Microphone);
  return (
    <div className="mirror-view">
      <BodyTile name={`You as ${name}`} video={video} />
      {hear && voice && <AudioTrack trackRef={voice} />}
    </div>
  );
}

import { ErrorNote, LevelMeter } from '../components/ui';
import { LocalVideo } from '../components/LocalVideo';
import type { LocalMedia } from '../media/useLocalMedia';
import { useAudioLevel } from '../media/useAudioLevel';

export function DeviceCheck({ media, onContinue }: { media: LocalMedia; onContinue: () => void }) {
  const audio = media.stream?.getAudioTracks()[0];
  const video = media.stream?.getVideoTracks()[0];
  const level = useAudioLevel(audio);
  return (
    <main className="screen">
      <h1>Check your camera and microphone</h1>
      <div className="card device-check">
        <div className="preview">
          {media.stream ? <LocalVideo stream={media.stream} label="Your camera preview" /> : <div className="preview-empty">Camera off</div>}
        </div>
        <ul className="checks">
          <li className={video ? 'ok' : ''}>Camera: {video ? video.label || 'on' : media.opening ? 'starting…' : 'off'}</li>
          <li className={audio ? 'ok' : ''}>Microphone: {audio ? audio.label || 'on' : media.opening ? 'starting…' : 'off'}</li>
        </ul>
        {audio && (
          <>
            <p>Say something: the bar should move.</p>
            <LevelMeter level={level} />
          </>
        )}
        <ErrorNote>{media.error?.message}</ErrorNote>
        <div className="actions">
          {!media.stream && (
            <button type="button" className="primary" onClick={() => void media.open()} disabled={media.opening}>
              {media.error ? 'Try again' : 'Turn on camera and microphone'}
            </button>
          )}
          {media.stream && (
            <button type="button" className="primary" onClick={onContinue}>
              Looks good, continue
            </button>
          )}
        </div>
        <p className="hint">
          Your camera and voice go only to the game's media server, which turns them into another player's body. The
          other players never receive them as they are.
        </p>
      </div>
    </main>
  );
}

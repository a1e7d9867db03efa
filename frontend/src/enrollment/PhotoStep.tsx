import { useEffect, useRef, useState } from 'react';
import { LocalVideo } from '../components/LocalVideo';
import { ErrorNote } from '../components/ui';
import { captureJpeg } from '../media/capture';

const COUNTDOWN_S = 3;

export function PhotoStep({ stream, onDone }: { stream: MediaStream; onDone: (photo: Blob) => void }) {
  const video = useRef<HTMLVideoElement | null>(null);
  const [count, setCount] = useState<number | null>(null);
  const [photo, setPhoto] = useState<{ blob: Blob; url: string } | null>(null);
  const [error, setError] = useState('');

  useEffect(() => () => {
    if (photo) URL.revokeObjectURL(photo.url);
  }, [photo]);

  useEffect(() => {
    if (count === null) return;
    if (count > 0) {
      const timer = window.setTimeout(() => setCount(count - 1), 1000);
      return () => window.clearTimeout(timer);
    }
    setCount(null);
    captureJpeg(video.current!).then(
      (blob) => setPhoto({ blob, url: URL.createObjectURL(blob) }),
      (e) => setError(String(e.message ?? e)),
    );
  }, [count]);

  return (
    <section className="card" aria-labelledby="photo-title">
      <h2 id="photo-title">Take your photo</h2>
      <p>Face the camera in good light, alone in the picture, with your face inside the oval.</p>
      <div className="preview">
        {photo ? (
          <img src={photo.url} alt="Your photo" className="local-video" />
        ) : (
          <>
            <LocalVideo stream={stream} label="Camera preview for your photo" videoRef={video} />
            <div className="face-guide" aria-hidden="true" />
            {count !== null && (
              <div className="countdown" aria-live="assertive">
                {count}
              </div>
            )}
          </>
        )}
      </div>
      <ErrorNote>{error}</ErrorNote>
      <div className="actions">
        {photo ? (
          <>
            <button type="button" onClick={() => setPhoto(null)}>
              Retake
            </button>
            <button type="button" className="primary" onClick={() => onDone(photo.blob)}>
              Use this photo
            </button>
          </>
        ) : (
          <button type="button" className="primary" disabled={count !== null} onClick={() => setCount(COUNTDOWN_S)}>
            {count !== null ? 'Hold still…' : 'Take photo'}
          </button>
        )}
      </div>
    </section>
  );
}

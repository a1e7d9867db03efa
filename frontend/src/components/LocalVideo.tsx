import { useEffect, useRef, type Ref } from 'react';

/** The player's own camera, mirrored like a mirror (never sent anywhere by this element). */
export function LocalVideo({ stream, label, videoRef }: { stream: MediaStream | null; label: string; videoRef?: Ref<HTMLVideoElement> }) {
  const own = useRef<HTMLVideoElement | null>(null);
  useEffect(() => {
    if (own.current && own.current.srcObject !== stream) own.current.srcObject = stream;
  }, [stream]);
  return (
    <video
      ref={(element) => {
        own.current = element;
        if (typeof videoRef === 'function') videoRef(element);
        else if (videoRef) (videoRef as { current: HTMLVideoElement | null }).current = element;
      }}
      className="local-video"
      aria-label={label}
      autoPlay
      muted
      playsInline
    />
  );
}

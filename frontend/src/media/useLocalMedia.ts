// The page's one camera+microphone stream: opened on demand, reopened with `retry`, stopped on leave.

import { useCallback, useEffect, useRef, useState } from 'react';
import { DeviceError, openCameraAndMicrophone, stopStream } from './devices';

export interface LocalMedia {
  stream: MediaStream | null;
  error: DeviceError | null;
  opening: boolean;
  open: () => Promise<void>;
}

export function useLocalMedia(autoOpen: boolean): LocalMedia {
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [error, setError] = useState<DeviceError | null>(null);
  const [opening, setOpening] = useState(false);
  const current = useRef<MediaStream | null>(null);

  const open = useCallback(async () => {
    setOpening(true);
    setError(null);
    try {
      const fresh = await openCameraAndMicrophone();
      stopStream(current.current);
      current.current = fresh;
      setStream(fresh);
    } catch (e) {
      setError(e instanceof DeviceError ? e : new DeviceError('unknown', String(e)));
    } finally {
      setOpening(false);
    }
  }, []);

  useEffect(() => {
    if (autoOpen) void open();
    return () => stopStream(current.current);
  }, [autoOpen, open]);

  return { stream, error, opening, open };
}

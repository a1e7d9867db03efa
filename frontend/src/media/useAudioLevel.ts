// A microphone level from 0 to 1, sampled ten times a second (enough for a meter, light on CPU).

import { useEffect, useState } from 'react';

export function rmsLevel(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  // -60 dBFS (silence) is empty, -5 dBFS (about to clip) is full.
  const db = 20 * Math.log10(rms + 1e-9);
  return Math.min(1, Math.max(0, (db + 60) / 55));
}

export function useAudioLevel(track: MediaStreamTrack | null | undefined): number {
  const [level, setLevel] = useState(0);
  useEffect(() => {
    if (!track || typeof AudioContext === 'undefined') return;
    const context = new AudioContext();
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = window.setInterval(() => {
      if (context.state === 'suspended') void context.resume();
      analyser.getFloatTimeDomainData(samples);
      setLevel(rmsLevel(samples));
    }, 100);
    return () => {
      window.clearInterval(timer);
      source.disconnect();
      void context.close();
    };
  }, [track]);
  return level;
}

// Still photos from the live preview, and voice recordings from the microphone.

export async function captureJpeg(video: HTMLVideoElement, quality = 0.92): Promise<Blob> {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext('2d');
  if (!context || !canvas.width) throw new Error('The camera has not started yet.');
  context.drawImage(video, 0, 0);
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('Could not take the photo.'))), 'image/jpeg', quality),
  );
}

/** The best container the service accepts that this browser can record (WebM/Opus, else Ogg). */
export function recordingMimeType(): string {
  const candidates = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm'];
  return candidates.find((t) => typeof MediaRecorder !== 'undefined' && MediaRecorder.isTypeSupported(t)) ?? '';
}

export interface Recording {
  stop(): Promise<Blob>;
  cancel(): void;
}

export function startRecording(track: MediaStreamTrack): Recording {
  const mimeType = recordingMimeType();
  // A clone, so that stopping the recorder never stops the track the game publishes.
  const clone = track.clone();
  const recorder = new MediaRecorder(new MediaStream([clone]), mimeType ? { mimeType } : undefined);
  const chunks: Blob[] = [];
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  recorder.start(1000);
  const done = new Promise<Blob>((resolve) => {
    recorder.onstop = () => {
      clone.stop();
      resolve(new Blob(chunks, { type: recorder.mimeType || mimeType || 'audio/webm' }));
    };
  });
  return {
    stop: () => {
      if (recorder.state !== 'inactive') recorder.stop();
      return done;
    },
    cancel: () => {
      if (recorder.state !== 'inactive') recorder.stop();
    },
  };
}

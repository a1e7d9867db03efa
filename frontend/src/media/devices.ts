// Getting the camera and microphone, and saying in plain words what went wrong when we cannot.

export const CAMERA_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 640 },
  height: { ideal: 480 },
  frameRate: { ideal: 15, max: 30 },
  facingMode: 'user',
};

export const MICROPHONE_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

export class DeviceError extends Error {
  constructor(
    readonly code: 'insecure' | 'denied' | 'no_camera' | 'no_microphone' | 'in_use' | 'unknown',
    message: string,
  ) {
    super(message);
  }
}

/** The message for a getUserMedia failure, given which kinds of device the browser lists. */
export function describeMediaError(error: unknown, hasCamera: boolean, hasMicrophone: boolean): DeviceError {
  const name = (error as { name?: string })?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new DeviceError(
      'denied',
      'Your browser is blocking the camera or microphone. Click the camera icon in the address bar, allow both, then press "Try again".',
    );
  }
  if (!hasCamera) {
    return new DeviceError('no_camera', 'We cannot find a camera. Plug one in, then press "Try again".');
  }
  if (!hasMicrophone) {
    return new DeviceError('no_microphone', 'We cannot find a microphone. Plug in a headset or turn on the built-in one, then press "Try again".');
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return new DeviceError('in_use', 'Your camera or microphone is busy in another app (a video call?). Close it, then press "Try again".');
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new DeviceError('no_camera', 'We cannot open a camera and a microphone. Check they are plugged in, then press "Try again".');
  }
  return new DeviceError('unknown', `We could not start your camera and microphone (${name || String(error)}).`);
}

async function deviceKinds(): Promise<{ hasCamera: boolean; hasMicrophone: boolean }> {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return {
      hasCamera: devices.some((d) => d.kind === 'videoinput'),
      hasMicrophone: devices.some((d) => d.kind === 'audioinput'),
    };
  } catch {
    return { hasCamera: true, hasMicrophone: true };
  }
}

/** A stream with exactly one camera track and one microphone track. Throws DeviceError. */
export async function openCameraAndMicrophone(): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DeviceError('insecure', 'Camera access needs a secure page: open Bodyswap over https:// (or on localhost).');
  }
  const kinds = await deviceKinds();
  if (!kinds.hasCamera || !kinds.hasMicrophone) throw describeMediaError(null, kinds.hasCamera, kinds.hasMicrophone);
  try {
    return await navigator.mediaDevices.getUserMedia({ video: CAMERA_CONSTRAINTS, audio: MICROPHONE_CONSTRAINTS });
  } catch (error) {
    if ((error as { name?: string })?.name === 'OverconstrainedError') {
      try {
        return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      } catch (retryError) {
        throw describeMediaError(retryError, kinds.hasCamera, kinds.hasMicrophone);
      }
    }
    throw describeMediaError(error, kinds.hasCamera, kinds.hasMicrophone);
  }
}

export function stopStream(stream: MediaStream | null): void {
  stream?.getTracks().forEach((t) => t.stop());
}

// Small presentational pieces shared by the screens.

import { useEffect, useState, type ReactNode } from 'react';

export function ErrorNote({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <p className="error" role="alert">
      {children}
    </p>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const percent = Math.round(Math.min(1, Math.max(0, value)) * 100);
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div className="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

export function LevelMeter({ level, label = 'Microphone level' }: { level: number; label?: string }) {
  const percent = Math.round(level * 100);
  return (
    <div className="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div className={`meter-fill ${level > 0.97 ? 'hot' : ''}`} style={{ width: `${percent}%` }} />
    </div>
  );
}

/** Re-renders every `ms` milliseconds and returns the current time. */
export function useNow(ms = 250): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

export function Timer({ seconds, label }: { seconds: number | null; label: string }) {
  if (seconds === null) return null;
  const urgent = seconds <= 5;
  return (
    <div className={`timer ${urgent ? 'urgent' : ''}`} role="timer" aria-label={label}>
      {Math.floor(seconds / 60)}:{String(seconds % 60).padStart(2, '0')}
    </div>
  );
}

export function Screen({ title, children, wide }: { title: string; children: ReactNode; wide?: boolean }) {
  return (
    <main className={`screen ${wide ? 'wide' : ''}`}>
      <h1>{title}</h1>
      {children}
    </main>
  );
}

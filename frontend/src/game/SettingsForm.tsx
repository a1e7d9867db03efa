import { useState, type FormEvent } from 'react';
import { ErrorNote } from '../components/ui';
import { useGame } from './GameContext';
import { RPC, type Settings } from './protocol';

// The host's settings, with the engine's bounds (room_service/game/model.py SETTING_BOUNDS).
const FIELDS: { key: keyof Settings; label: string; min: number; max: number }[] = [
  { key: 'rounds', label: 'Rounds', min: 1, max: 10 },
  { key: 'turn_seconds', label: 'Turn (seconds)', min: 10, max: 300 },
  { key: 'vote_seconds', label: 'Vote (seconds)', min: 15, max: 600 },
  { key: 'reveal_seconds', label: 'Reveal (seconds)', min: 5, max: 120 },
  { key: 'max_players', label: 'Max players', min: 2, max: 8 },
];

export function SettingsForm() {
  const { store, rpc } = useGame();
  const current = store.public!.settings;
  const [draft, setDraft] = useState<Record<string, string>>(() =>
    Object.fromEntries(FIELDS.map((f) => [f.key, String(current[f.key])])),
  );
  const [error, setError] = useState('');
  const [saved, setSaved] = useState(false);

  async function save(event: FormEvent) {
    event.preventDefault();
    setError('');
    setSaved(false);
    const settings = Object.fromEntries(FIELDS.map((f) => [f.key, Number(draft[f.key])]));
    try {
      await rpc(RPC.settings, { settings });
      setSaved(true);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <form className="settings" onSubmit={save} aria-labelledby="settings-title">
      <h3 id="settings-title">Game settings</h3>
      <div className="settings-grid">
        {FIELDS.map((f) => (
          <label key={f.key}>
            {f.label}
            <input
              type="number"
              name={f.key}
              min={f.min}
              max={f.max}
              required
              value={draft[f.key]}
              onChange={(e) => {
                setSaved(false);
                setDraft({ ...draft, [f.key]: e.target.value });
              }}
            />
          </label>
        ))}
      </div>
      <button type="submit">Save settings</button>
      {saved && (
        <span className="ok-note" role="status">
          Saved
        </span>
      )}
      <ErrorNote>{error}</ErrorNote>
    </form>
  );
}

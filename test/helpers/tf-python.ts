/**
 * The Python with TensorFlow that `npm run convert -- native` would use, for the suites that write native
 * SavedModels: found as that command finds it (TF_PYTHON, the managed venv in npm run native's cache, python3), but
 * never made, so a suite only skips where none is there. CI's native tier makes the managed venv first
 * (`npm run convert -- native --setup`).
 */
import { spawnSync } from 'child_process';
import { nativeSettings } from '../../src/cli/native';
import { GRAPH_TO_SAVED_MODEL_SCRIPT, tfPythonCandidates } from '../../src/convert/native-saved-model';

let found: { python: string | null; why: string } | undefined;

/** The Python, or null with the reason (for a skipped test's title). */
export function tfPythonForTests(): { python: string | null; why: string } {
  if (found) return found;
  const candidates = process.env.TF_PYTHON?.trim()
    ? [process.env.TF_PYTHON.trim()]
    : tfPythonCandidates(nativeSettings()).map(([python]) => python);
  for (const python of candidates) {
    const r = spawnSync(python, [GRAPH_TO_SAVED_MODEL_SCRIPT, '--versions'], { encoding: 'utf8' });
    if (r.status === 0) return (found = { python, why: '' });
  }
  return (found = {
    python: null,
    why: 'no Python here imports tensorflow: npm run convert -- native --setup makes one (or set TF_PYTHON)',
  });
}

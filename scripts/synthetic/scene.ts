/**
 * Composes a synthetic trap photo: sheet, shadows, specks, twigs, leaves and insects, with ground truth.
 */
import { seededRng, type Rng } from '../../src/util/rng';
import type { BoundingBox } from '../../src/contract/types';
import { createCanvas, drawObject, toBytes, type Placement } from './raster';
import { paintSheet } from './sheet';
import {
  insectSprite,
  leafSprite,
  shadowSprite,
  speckSprite,
  SPECIES,
  twigSprite,
  type SpeciesName,
  type Sprite,
} from './shapes';

export interface SceneObject {
  bbox: BoundingBox;
  /** Species name, or "nonmoth" for clutter. */
  label: SpeciesName | 'nonmoth';
  kind: 'insect' | 'clutter';
}

export interface SceneSpec {
  width: number;
  height: number;
  seed: number;
  insects: number;
  leaves: number;
  twigs: number;
  specks: number;
  shadows: number;
  /** Insect size (longest extent) range in pixels; sizes are drawn log-uniformly. */
  insectSize: [number, number];
  /** Leaf and twig length range in pixels. */
  clutterSize: [number, number];
}

export interface Scene {
  width: number;
  height: number;
  /** RGB bytes, interleaved. */
  rgb: Uint8Array;
  objects: SceneObject[];
}

const logUniform = (rng: Rng, lo: number, hi: number): number =>
  Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo)));

/** Renders a scene; the same spec always gives the same bytes. */
export function renderScene(spec: SceneSpec): Scene {
  const rng = seededRng(spec.seed);
  const canvas = createCanvas(spec.width, spec.height);
  paintSheet(canvas, rng);
  const occupied: { x: number; y: number; r: number }[] = [];
  const place = (radius: number, margin: number): { x: number; y: number } | null => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const x = margin + rng.next() * (spec.width - 2 * margin);
      const y = margin + rng.next() * (spec.height - 2 * margin);
      if (occupied.every((o) => Math.hypot(o.x - x, o.y - y) > o.r + radius + 12)) {
        occupied.push({ x, y, r: radius });
        return { x, y };
      }
    }
    return null;
  };
  const draw = (sprite: Sprite, at: { x: number; y: number }, scale: number): BoundingBox | null => {
    const p: Placement = {
      cx: at.x,
      cy: at.y,
      scale,
      angle: rng.next() * Math.PI * 2,
      extent: sprite.extent,
    };
    return drawObject(canvas, sprite.shader, p);
  };

  // Background clutter that is not an object: faint shadows and dirt specks (never in the ground truth).
  for (let i = 0; i < spec.shadows; i++) {
    const size = logUniform(rng, 80, Math.min(spec.width, spec.height) * 0.25);
    draw(shadowSprite(rng), { x: rng.next() * spec.width, y: rng.next() * spec.height }, size / 2);
  }
  for (let i = 0; i < spec.specks; i++) {
    draw(speckSprite(rng), { x: rng.next() * spec.width, y: rng.next() * spec.height }, 1 + rng.next() * 2.5);
  }

  const objects: SceneObject[] = [];
  const clutter: ('leaf' | 'twig')[] = [
    ...Array.from({ length: spec.twigs }, () => 'twig' as const),
    ...Array.from({ length: spec.leaves }, () => 'leaf' as const),
  ];
  for (const kind of clutter) {
    const size = logUniform(rng, spec.clutterSize[0], spec.clutterSize[1]);
    const sprite =
      kind === 'leaf' ? leafSprite(rng) : twigSprite(rng, Math.max(0.02, (3 + rng.next() * 4) / size));
    const at = place((size / 2) * sprite.extent, (size / 2) * sprite.extent + 4);
    if (!at) continue;
    const bbox = draw(sprite, at, size / 2);
    if (bbox) objects.push({ bbox, label: 'nonmoth', kind: 'clutter' });
  }
  for (let i = 0; i < spec.insects; i++) {
    const species = SPECIES[i % SPECIES.length];
    const size = logUniform(rng, spec.insectSize[0], spec.insectSize[1]);
    const sprite = insectSprite(species, rng);
    const at = place((size / 2) * sprite.extent, (size / 2) * sprite.extent + 4);
    if (!at) continue;
    const bbox = draw(sprite, at, size / 2);
    if (bbox) objects.push({ bbox, label: species, kind: 'insect' });
  }
  return {
    width: spec.width,
    height: spec.height,
    rgb: toBytes(canvas, 2.2, spec.seed ^ 0x5bd1e995),
    objects,
  };
}

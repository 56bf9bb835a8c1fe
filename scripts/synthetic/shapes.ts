/**
 * Shaders for five moth species and for clutter (leaves, twigs, specks, shadows). Local coordinates: x across,
 * y along the body (head at −y), unit = the object's half-size. Patterns, not photorealism: each species differs
 * from the others by outline, pattern and colour, with per-instance jitter.
 */
import type { Rng } from '../../src/util/rng';
import type { Shader } from './raster';

export type Rgb = [number, number, number];

/** The species, in category-map order. */
export const SPECIES = [
  'Actias luna',
  'Automeris io',
  'Catocala relicta',
  'Halysidota tessellaris',
  'Hypoprepia fucosa',
] as const;
export type SpeciesName = (typeof SPECIES)[number];

export type ClutterKind = 'leaf' | 'twig';

/** A shader plus how far it reaches in local units. */
export interface Sprite {
  shader: Shader;
  extent: number;
}

/** Point (x, y) relative to an ellipse centred at (cx, cy), radii (rx, ry), rotated by `rot`: returns r² (≤ 1 inside) and local coords. */
function ellipse(
  x: number,
  y: number,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  rot: number,
  o: Float64Array,
): number {
  const dx = x - cx;
  const dy = y - cy;
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const p = (dx * c + dy * s) / rx;
  const q = (-dx * s + dy * c) / ry;
  o[0] = p;
  o[1] = q;
  return p * p + q * q;
}

function set(out: Float64Array, c: Rgb, a = 1): true {
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = a;
  return true;
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function jitterColour(c: Rgb, rng: Rng, amount: number): Rgb {
  const bright = 1 + (rng.next() * 2 - 1) * amount;
  return c.map((v) =>
    Math.min(255, Math.max(0, v * bright * (1 + (rng.next() * 2 - 1) * amount * 0.5))),
  ) as Rgb;
}

interface WingSet {
  fore: { cx: number; cy: number; rx: number; ry: number; rot: number };
  hind: { cx: number; cy: number; rx: number; ry: number; rot: number };
}

/** Spread-winged outline (luna, io, catocala): fore and hind wings mirrored across x = 0, plus a body. */
function spreadWings(rng: Rng, base: WingSet): WingSet {
  const j = (v: number, a: number): number => v * (1 + (rng.next() * 2 - 1) * a);
  return {
    fore: {
      cx: j(base.fore.cx, 0.05),
      cy: j(base.fore.cy, 0.1),
      rx: j(base.fore.rx, 0.06),
      ry: j(base.fore.ry, 0.06),
      rot: j(base.fore.rot, 0.15),
    },
    hind: {
      cx: j(base.hind.cx, 0.05),
      cy: j(base.hind.cy, 0.1),
      rx: j(base.hind.rx, 0.06),
      ry: j(base.hind.ry, 0.06),
      rot: j(base.hind.rot, 0.15),
    },
  };
}

function body(x: number, y: number, len: number, wid: number): boolean {
  const q = y / len;
  const p = x / wid;
  return p * p + q * q <= 1;
}

function actiasLuna(rng: Rng): Sprite {
  const w = spreadWings(rng, {
    fore: { cx: 0.42, cy: -0.28, rx: 0.46, ry: 0.25, rot: -0.3 },
    hind: { cx: 0.3, cy: 0.08, rx: 0.3, ry: 0.24, rot: 0.5 },
  });
  const green = jitterColour([172, 214, 142], rng, 0.06);
  const costa: Rgb = jitterColour([128, 82, 98], rng, 0.08);
  const cream = jitterColour([222, 214, 186], rng, 0.03);
  const tailLen = 0.75 + rng.next() * 0.2;
  const o = new Float64Array(2);
  return {
    extent: 1.05,
    shader(x, y, out) {
      const ax = Math.abs(x);
      if (body(x, y + 0.05, 0.4, 0.085)) return set(out, cream);
      const rf = ellipse(ax, y, w.fore.cx, w.fore.cy, w.fore.rx, w.fore.ry, w.fore.rot, o);
      if (rf <= 1) {
        const [p, q] = [o[0], o[1]];
        if (q < -0.7 && p < 0.6) return set(out, costa);
        const e = Math.hypot(p - 0.15, q + 0.05);
        if (e < 0.12) return set(out, [70, 45, 45]);
        if (e < 0.22) return set(out, [228, 200, 96]);
        return set(out, mix(green, [200, 230, 170], Math.max(0, p) * 0.3));
      }
      const rh = ellipse(ax, y, w.hind.cx, w.hind.cy, w.hind.rx, w.hind.ry, w.hind.rot, o);
      if (rh <= 1) {
        const e = Math.hypot(o[0] - 0.05, o[1]);
        if (e < 0.14) return set(out, [70, 45, 45]);
        if (e < 0.26) return set(out, [228, 200, 96]);
        return set(out, green);
      }
      // Long tails trailing from the hind wings, curving outwards.
      const t = (y - 0.2) / tailLen;
      if (t > 0 && t < 1) {
        const centre = 0.3 + 0.12 * Math.sin(t * 2.2);
        const half = 0.075 * (1 - 0.7 * t);
        if (Math.abs(ax - centre) < half) return set(out, mix(green, [225, 190, 120], t));
      }
      return false;
    },
  };
}

function automerisIo(rng: Rng): Sprite {
  const w = spreadWings(rng, {
    fore: { cx: 0.42, cy: -0.22, rx: 0.48, ry: 0.3, rot: -0.25 },
    hind: { cx: 0.36, cy: 0.2, rx: 0.38, ry: 0.33, rot: 0.35 },
  });
  const yellow = jitterColour([214, 176, 60], rng, 0.06);
  const line = jitterColour([160, 110, 50], rng, 0.06);
  const pink = jitterColour([205, 85, 70], rng, 0.06);
  const bodyCol = jitterColour([196, 146, 60], rng, 0.05);
  const o = new Float64Array(2);
  return {
    extent: 0.95,
    shader(x, y, out) {
      const ax = Math.abs(x);
      if (body(x, y + 0.02, 0.42, 0.1)) return set(out, bodyCol);
      const rf = ellipse(ax, y, w.fore.cx, w.fore.cy, w.fore.rx, w.fore.ry, w.fore.rot, o);
      if (rf <= 1) {
        if (Math.abs(o[0] - 0.35 + 0.3 * o[1]) < 0.06) return set(out, line);
        return set(out, yellow);
      }
      const rh = ellipse(ax, y, w.hind.cx, w.hind.cy, w.hind.rx, w.hind.ry, w.hind.rot, o);
      if (rh <= 1) {
        const e = Math.hypot(o[0] - 0.05, o[1] + 0.05);
        if (e < 0.1) return set(out, [245, 245, 240]);
        if (e < 0.34) return set(out, [45, 55, 95]);
        if (e < 0.46) return set(out, [30, 28, 30]);
        if (rh > 0.72) return set(out, pink);
        return set(out, yellow);
      }
      return false;
    },
  };
}

function catocalaRelicta(rng: Rng): Sprite {
  const w = spreadWings(rng, {
    fore: { cx: 0.45, cy: -0.12, rx: 0.5, ry: 0.22, rot: -0.18 },
    hind: { cx: 0.3, cy: 0.18, rx: 0.32, ry: 0.24, rot: 0.4 },
  });
  const grey = jitterColour([176, 178, 176], rng, 0.05);
  const band = jitterColour([48, 48, 54], rng, 0.08);
  const black = jitterColour([36, 36, 42], rng, 0.08);
  const white = jitterColour([232, 232, 226], rng, 0.03);
  const phase = rng.next() * Math.PI * 2;
  const o = new Float64Array(2);
  return {
    extent: 1.0,
    shader(x, y, out) {
      const ax = Math.abs(x);
      if (body(x, y + 0.05, 0.42, 0.08)) return set(out, [110, 110, 112]);
      const rh = ellipse(ax, y, w.hind.cx, w.hind.cy, w.hind.rx, w.hind.ry, w.hind.rot, o);
      const rf = ellipse(ax, y, w.fore.cx, w.fore.cy, w.fore.rx, w.fore.ry, w.fore.rot, o);
      if (rf <= 1) {
        const wave = Math.sin(o[0] * 9 + 1.5 * Math.sin(o[1] * 5) + phase);
        return set(out, wave > 0.55 ? band : grey);
      }
      if (rh <= 1) {
        const rr = Math.sqrt(rh);
        return set(out, rr > 0.5 && rr < 0.7 ? white : black);
      }
      return false;
    },
  };
}

/** Folded, roof-shaped outline (Halysidota, Hypoprepia): wider at the rear, rounded ends. Returns |x|/halfWidth or >1 outside. */
function foldedOutline(x: number, y: number, width: number): number {
  if (y < -0.62 || y > 1) return 2;
  const t = (y + 0.62) / 1.62;
  let half = width * (0.55 + 0.45 * t);
  if (t > 0.85) half *= Math.sqrt(Math.max(0, 1 - ((t - 0.85) / 0.15) ** 2));
  if (t < 0.08) half *= Math.sqrt(Math.max(0, 1 - ((0.08 - t) / 0.08) ** 2));
  return half > 0 ? Math.abs(x) / half : 2;
}

function halysidotaTessellaris(rng: Rng): Sprite {
  const width = 0.36 * (1 + (rng.next() * 2 - 1) * 0.06);
  const tan = jitterColour([210, 180, 120], rng, 0.05);
  const dark = jitterColour([176, 140, 86], rng, 0.05);
  const edge = jitterColour([118, 84, 50], rng, 0.06);
  const teal = jitterColour([98, 150, 150], rng, 0.06);
  const shift = rng.next();
  return {
    extent: 1.02,
    shader(x, y, out) {
      if (body(x, y + 0.78, 0.2, 0.17))
        return set(out, Math.abs(x) < 0.04 || Math.abs(x) > 0.11 ? teal : tan);
      const r = foldedOutline(x, y, width);
      if (r > 1) return false;
      const u = Math.abs(x) * 9;
      const v = y * 7 + shift;
      const fu = u - Math.floor(u);
      const fv = v - Math.floor(v);
      if (fu < 0.16 || fv < 0.16) return set(out, edge);
      return set(out, (Math.floor(u) + Math.floor(v)) % 2 === 0 ? dark : tan);
    },
  };
}

function hypoprepiaFucosa(rng: Rng): Sprite {
  const width = 0.3 * (1 + (rng.next() * 2 - 1) * 0.06);
  const orange = jitterColour([240, 168, 60], rng, 0.05);
  const red = jitterColour([214, 86, 58], rng, 0.06);
  const lead = jitterColour([92, 92, 106], rng, 0.06);
  return {
    extent: 1.02,
    shader(x, y, out) {
      if (body(x, y + 0.78, 0.2, 0.15)) return set(out, lead);
      const r = foldedOutline(x, y, width);
      if (r > 1) return false;
      const ax = Math.abs(x);
      if (ax < 0.035 || Math.abs(r - 0.55) < 0.12) return set(out, lead);
      return set(out, mix(orange, red, Math.max(0, r - 0.7) / 0.3));
    },
  };
}

const speciesSprites: Record<SpeciesName, (rng: Rng) => Sprite> = {
  'Actias luna': actiasLuna,
  'Automeris io': automerisIo,
  'Catocala relicta': catocalaRelicta,
  'Halysidota tessellaris': halysidotaTessellaris,
  'Hypoprepia fucosa': hypoprepiaFucosa,
};

/** A fresh, jittered individual of `species`. */
export function insectSprite(species: SpeciesName, rng: Rng): Sprite {
  return speciesSprites[species](rng);
}

/** A leaf: pointed lens shape with a stalk, a midrib and side veins; green, yellow-green or dry brown. */
export function leafSprite(rng: Rng): Sprite {
  const palettes: Rgb[] = [
    [72, 122, 48],
    [104, 138, 52],
    [58, 100, 52],
    [128, 92, 52],
  ];
  const colour = jitterColour(palettes[rng.int(0, palettes.length - 1)], rng, 0.08);
  const vein = mix(colour, [220, 220, 160], 0.35);
  const width = 0.3 + rng.next() * 0.15;
  const bend = (rng.next() * 2 - 1) * 0.15;
  return {
    extent: 1.25,
    shader(x, y, out) {
      const xc = x - bend * (1 - y * y);
      if (y >= 0.95 && y <= 1.22 && Math.abs(xc) < 0.025) return set(out, vein);
      if (y < -1 || y > 1) return false;
      const half = width * Math.pow(1 - y * y, 0.8);
      if (Math.abs(xc) > half) return false;
      if (Math.abs(xc) < 0.02) return set(out, vein);
      const side = y + 1.2 * Math.abs(xc);
      const f = side * 5 - Math.floor(side * 5);
      return set(out, f < 0.08 ? mix(colour, vein, 0.6) : colour);
    },
  };
}

/** A twig: a thin, gently curved, tapering brown stick with a side shoot. */
export function twigSprite(rng: Rng, thickness: number): Sprite {
  const colour = jitterColour([104, 80, 56], rng, 0.1);
  const amp = (rng.next() * 2 - 1) * 0.12;
  const freq = 0.4 + rng.next() * 0.8;
  const branchAt = -0.4 + rng.next() * 0.8;
  const branchDir = rng.next() < 0.5 ? -1 : 1;
  return {
    extent: 1.0,
    shader(x, y, out) {
      if (y < -1 || y > 1) return false;
      const centre = amp * Math.sin(y * freq * Math.PI);
      const half = thickness * (0.6 + (0.4 * (1 - y)) / 2);
      if (Math.abs(x - centre) < half) return set(out, colour);
      // side shoot: a straight segment at 40° from the branch point
      const bx = (x - amp * Math.sin(branchAt * freq * Math.PI)) * branchDir;
      const by = y - branchAt;
      if (bx > 0 && bx < 0.35) {
        const d = Math.abs(by + bx * 1.2);
        if (d < thickness * 0.5) return set(out, colour);
      }
      return false;
    },
  };
}

/** A dirt speck: a small dark irregular blob. */
export function speckSprite(rng: Rng): Sprite {
  const colour = jitterColour([78, 66, 54], rng, 0.25);
  const k = rng.next() * 3;
  return {
    extent: 1.3,
    shader(x, y, out) {
      const r = Math.hypot(x, y) * (1 + 0.25 * Math.sin(Math.atan2(y, x) * 3 + k));
      return r <= 1 ? set(out, colour) : false;
    },
  };
}

/** A soft shadow: a large, faint, bluish-grey blob with a smooth edge. */
export function shadowSprite(rng: Rng): Sprite {
  const strength = 0.05 + rng.next() * 0.07;
  const colour: Rgb = [90, 96, 112];
  const aspect = 0.4 + rng.next() * 0.6;
  return {
    extent: 1.0,
    shader(x, y, out) {
      const r = Math.hypot(x / aspect, y);
      if (r >= 1) return false;
      return set(out, colour, strength * (1 - r * r) * (1 - r * r));
    },
  };
}

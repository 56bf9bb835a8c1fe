/**
 * The comparison a move from ADC is held to: boxes matched at IoU ≥ 0.9 both ways, then stages, terminal flags,
 * top-1 labels and score vectors of the matched pairs.
 */
import type { ClassificationResponse } from '../../src/contract/types';
import { compareDetections, matchBoxes, meetsBars } from '../../bench/adc-compare';

const cls = (key: string, label: string, scores: number[], terminal = true): ClassificationResponse => ({
  classification: label,
  labels: null,
  scores,
  logits: [],
  inference_time: null,
  algorithm: { name: key, key },
  terminal,
  timestamp: '2026-12-07T00:00:00+00:00',
});

const box = (
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  classifications: ClassificationResponse[] = [],
) => ({
  bbox: { x1, y1, x2, y2 },
  classifications,
});

describe('matchBoxes', () => {
  it('pairs each box once, best IoU first, and leaves boxes under the threshold alone', () => {
    const ours = [
      { x1: 0, y1: 0, x2: 100, y2: 100 },
      { x1: 200, y1: 200, x2: 300, y2: 300 },
    ];
    const theirs = [
      { x1: 1, y1: 0, x2: 100, y2: 100 }, // IoU 0.99 with ours[0]
      { x1: 0, y1: 0, x2: 100, y2: 99 }, // IoU 0.99 too, but ours[0] is taken
      { x1: 230, y1: 200, x2: 330, y2: 300 }, // IoU 0.54 with ours[1]
    ];
    expect(matchBoxes(ours, theirs)).toEqual([[0, 0]]);
  });
});

describe('compareDetections', () => {
  it('finds two identical answers in full agreement, whatever their order', () => {
    const a = [
      box(0, 0, 10, 10, [cls('f', 'moth', [0.9, 0.1], false), cls('s', 'x', [0.2, 0.8])]),
      box(20, 20, 40, 40, [cls('f', 'nonmoth', [0.3, 0.7], false)]),
    ];
    const agreement = compareDetections(a, [...a].reverse());
    expect(agreement).toMatchObject({
      matched: 2,
      oursMatched: 1,
      theirsMatched: 1,
      agreeingShare: 1,
      maxScoreDiff: 0,
    });
    expect(meetsBars(agreement)).toBe(true);
  });

  it('counts a different stage list, terminal flag or top-1 label as a disagreement, and measures scores', () => {
    const ours = [
      box(0, 0, 10, 10, [cls('f', 'moth', [0.9, 0.1], false), cls('s', 'x', [0.2, 0.8])]),
      box(20, 20, 40, 40, [cls('f', 'nonmoth', [0.3, 0.7], false)]),
      box(50, 50, 60, 60, [cls('f', 'moth', [0.6, 0.4], true)]),
    ];
    const theirs = [
      box(0, 0, 10, 10, [cls('f', 'moth', [0.9005, 0.0995], false), cls('s', 'x', [0.2, 0.8])]),
      box(20, 20, 40, 40, [cls('f', 'nonmoth', [0.3, 0.7], false), cls('s', 'y', [0.6, 0.4])]),
      box(50, 50, 60, 60, [cls('f', 'moth', [0.6, 0.4], false)]),
    ];
    const agreement = compareDetections(ours, theirs);
    expect(agreement.matched).toBe(3);
    expect(agreement.agreeing).toBe(1);
    expect(agreement.maxScoreDiff).toBeCloseTo(5e-4, 9);
    expect(agreement.disagreements).toHaveLength(2);
    expect(meetsBars(agreement)).toBe(false);
  });

  it('an empty answer against an empty answer agrees', () => {
    expect(meetsBars(compareDetections([], []))).toBe(true);
  });
});

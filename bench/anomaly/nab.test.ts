import { describe, expect, it } from 'vitest';
import { corpusScore, PROFILES, probationLength, scaledSigmoid, scoreFile, windows } from './nab.js';

const [standard, lowFP, lowFN] = PROFILES as [
  (typeof PROFILES)[0],
  (typeof PROFILES)[0],
  (typeof PROFILES)[0],
];

describe('NAB scoring', () => {
  it('scaled sigmoid: 0.98661 at the left edge, 0 at the right edge, -1 from 3 window lengths past it', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 5);
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.84828, 5);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.98661, 5);
    expect(scaledSigmoid(3)).toBe(-1);
  });

  it('probation: 15% of the file, at most 750 points', () => {
    expect(probationLength(1000)).toBe(150);
    expect(probationLength(20_000)).toBe(750);
  });

  it('windows: 10% of the file over the anomalies, centred on each, merged when they overlap', () => {
    expect(windows(1000, [{ start: 500, end: 500 }])).toEqual([{ left: 450, right: 550 }]);
    // Two anomalies: 50 points each; a long anomaly stretches its window to its end.
    expect(
      windows(1000, [
        { start: 300, end: 400 },
        { start: 800, end: 800 },
      ]),
    ).toEqual([
      { left: 275, right: 400 },
      { left: 775, right: 825 },
    ]);
    expect(
      windows(1000, [
        { start: 500, end: 500 },
        { start: 520, end: 520 },
      ]),
    ).toEqual([{ left: 475, right: 545 }]);
  });

  it('a detection at the first point of a window earns tpWeight, at its last point almost nothing', () => {
    const w = windows(1000, [{ start: 500, end: 500 }]);
    expect(scoreFile(1000, w, [450], standard).raw).toBeCloseTo(1, 10);
    // Last point: sigma(-1/101) scaled by 1/sigma(-1).
    expect(scoreFile(1000, w, [550], standard).raw).toBeCloseTo(
      scaledSigmoid(-1 / 101) / scaledSigmoid(-1),
      10,
    );
    // Halfway in: 0.84828 / 0.98661.
    expect(scoreFile(1000, w, [500], standard).raw).toBeCloseTo(
      scaledSigmoid(-51 / 101) / scaledSigmoid(-1),
      10,
    );
    // Only the earliest detection of a window counts.
    expect(scoreFile(1000, w, [460, 470, 500], standard).tp).toBe(1);
    expect(scoreFile(1000, w, [460, 500], standard).raw).toBeCloseTo(
      scoreFile(1000, w, [460], standard).raw,
      12,
    );
  });

  it('a missed window costs fnWeight; false positives cost fpWeight, less right after a window', () => {
    const w = windows(1000, [{ start: 500, end: 500 }]);
    expect(scoreFile(1000, w, [], standard)).toMatchObject({ raw: -1, fn: 1, tp: 0 });
    expect(scoreFile(1000, w, [], lowFN).raw).toBe(-2);
    // Before any window: -fpWeight each.
    expect(scoreFile(1000, w, [200], standard).raw).toBeCloseTo(-1 - 0.11, 12);
    expect(scoreFile(1000, w, [200], lowFP).raw).toBeCloseTo(-1 - 0.22, 12);
    // Just after the window (1/100 of its width): nearly free; far after: -fpWeight.
    const near = scoreFile(1000, w, [450, 551], standard).raw - 1;
    expect(near).toBeCloseTo(scaledSigmoid(1 / 100) * 0.11, 12);
    expect(near).toBeGreaterThan(-0.01);
    expect(scoreFile(1000, w, [450, 900], standard).raw - 1).toBeCloseTo(-0.11, 12);
  });

  it('detections and windows inside the probation do not count', () => {
    const w = windows(1000, [{ start: 100, end: 100 }]); // [50, 150], wholly inside 150? right = 150
    expect(scoreFile(1000, w, [10, 60], standard).windows).toBe(1); // index 150 is scored
    const early = windows(1000, [{ start: 60, end: 60 }]);
    expect(scoreFile(1000, early, [10, 100], standard)).toMatchObject({ raw: 0, windows: 0, fp: 0 });
  });

  it('normalises over the corpus: null 0, perfect 100', () => {
    const a = { length: 1000, windows: windows(1000, [{ start: 500, end: 500 }]) };
    const b = {
      length: 2000,
      windows: windows(2000, [
        { start: 900, end: 900 },
        { start: 1500, end: 1500 },
      ]),
    };
    expect(
      corpusScore(
        [
          { ...a, detections: [] },
          { ...b, detections: [] },
        ],
        standard,
      ),
    ).toBe(0);
    const perfect = [
      { ...a, detections: [450] },
      { ...b, detections: [b.windows[0]!.left, b.windows[1]!.left] },
    ];
    expect(corpusScore(perfect, standard)).toBeCloseTo(100, 10);
    // One of three windows found at its start, two missed: raw 1 - 2 against null -3, perfect 3.
    expect(
      corpusScore(
        [
          { ...a, detections: [450] },
          { ...b, detections: [] },
        ],
        standard,
      ),
    ).toBeCloseTo((100 * 2) / 6, 10);
    // An anomaly-free file only adds false positives.
    const free = { length: 1000, windows: [], detections: [300, 600] };
    expect(corpusScore([{ ...a, detections: [450] }, free], standard)).toBeCloseTo(
      (100 * (2 - 0.22)) / 2,
      10,
    );
  });
});

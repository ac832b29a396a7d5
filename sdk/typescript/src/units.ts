/**
 * Per-unit results: unit statistics, oscillating units (GetTemporalStatistics with
 * `granularity: Granularity.UNIT`) and per-unit layer health (GetLayerHealth). Times are
 * `Date`s, counts and steps `number`s, a unit's canvas cell a `Point`.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type * as pb from "./gen/neural_heatmap/v1/analytics_pb.js";
import { metadataMap } from "./metadata.js";
import type { Metadata, Point } from "./plain.js";

/** Which units of each selected layer a unit-granularity temporal query analyses. */
export interface UnitSelector {
  /** These indices (with `unitRanges`; both unset: every unit). */
  units?: number[];
  /** These inclusive ranges, added to `units`. */
  unitRanges?: { first: number; last: number }[];
}

const cell = (p: { x: number; y: number } | undefined): Point => ({ x: p?.x ?? 0, y: p?.y ?? 0 });

export interface UnitStatistics {
  modelId: string;
  layerId: string;
  unit: number;
  location: Point;
  samples: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  trendSlope: number;
  trendRSquared: number;
  dominantFrequency: number;
  periodicityStrength: number;
  /** Whether periodicityStrength passes the server's periodic threshold. */
  periodic: boolean;
  stateChanges: number;
}

export function unitStatisticsOf(u: pb.UnitStatistics): UnitStatistics {
  return {
    modelId: u.modelId,
    layerId: u.layerId,
    unit: u.unit,
    location: cell(u.location),
    samples: Number(u.samples),
    mean: u.mean,
    std: u.std,
    min: u.min,
    max: u.max,
    trendSlope: u.trendSlope,
    trendRSquared: u.trendRSquared,
    dominantFrequency: u.dominantFrequency,
    periodicityStrength: u.periodicityStrength,
    periodic: u.periodic,
    stateChanges: u.stateChanges,
  };
}

/** A unit whose periodicity passes the server's periodic threshold. */
export interface OscillatingUnit {
  modelId: string;
  layerId: string;
  unit: number;
  location: Point;
  frequency: number;
  periodicityStrength: number;
  amplitude: number;
}

export function oscillatingUnitOf(u: pb.OscillatingUnit): OscillatingUnit {
  return {
    modelId: u.modelId,
    layerId: u.layerId,
    unit: u.unit,
    location: cell(u.location),
    frequency: u.frequency,
    periodicityStrength: u.periodicityStrength,
    amplitude: u.amplitude,
  };
}

/** A unit stuck at 0 (dead) or at its bound (saturated) over the recent frames. */
export interface StuckUnit {
  unit: number;
  location: Point;
  /** The training step its current run started at; undefined when frames carry no step. */
  sinceStep?: number;
  since?: Date;
  frames: number;
  /** The run reaches the window's oldest frame: stuck at least since then. */
  sinceWindowStart: boolean;
  value: number;
}

function stuckOf(u: pb.StuckUnit): StuckUnit {
  return {
    unit: u.unit,
    location: cell(u.location),
    sinceStep: u.sinceStep === undefined ? undefined : Number(u.sinceStep),
    since: u.since ? timestampDate(u.since) : undefined,
    frames: Number(u.frames),
    sinceWindowStart: u.sinceWindowStart,
    value: u.value,
  };
}

/** A unit's largest recent robust z-score against its own earlier frames. */
export interface UnitSpike {
  unit: number;
  location: Point;
  score: number;
  value: number;
  median: number;
  step?: number;
  timestamp?: Date;
}

/** Per-unit health of one layer. */
export interface LayerHealth {
  modelId: string;
  layerId: string;
  units: number;
  frames: number;
  deadUnits: StuckUnit[];
  saturatedUnits: StuckUnit[];
  topSpikes: UnitSpike[];
  criteria: Metadata;
}

export function layerHealthOf(h: pb.LayerHealth): LayerHealth {
  return {
    modelId: h.modelId,
    layerId: h.layerId,
    units: h.units,
    frames: Number(h.frames),
    deadUnits: h.deadUnits.map(stuckOf),
    saturatedUnits: h.saturatedUnits.map(stuckOf),
    topSpikes: h.topSpikes.map((s) => ({
      unit: s.unit,
      location: cell(s.location),
      score: s.score,
      value: s.value,
      median: s.median,
      step: s.step === undefined ? undefined : Number(s.step),
      timestamp: s.timestamp ? timestampDate(s.timestamp) : undefined,
    })),
    criteria: metadataMap(h.criteria),
  };
}

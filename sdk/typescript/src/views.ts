/**
 * The client's own result types and the conversions from the generated messages: times are
 * `Date`s, counts are `number`s, tensors are `Float32Array` views over the received bytes,
 * and metadata is a plain object. Log sequences stay `bigint` (uint64 on the wire, and the
 * resume point of the anomaly stream must be exact). Enums are the generated ones
 * (`Severity.HIGH`, `AnomalyType.SPIKE`, ...).
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type * as pb from "./gen/neural_heatmap/v1/analytics_pb.js";
import type { AnomalyType, PatternType } from "./gen/neural_heatmap/v1/analytics_pb.js";
import type { Severity } from "./gen/neural_heatmap/v1/common_pb.js";
import type { ExportFormat, ExportedFile as PbExportedFile, ExportResult as PbExportResult } from "./gen/neural_heatmap/v1/export_pb.js";
import type { FrameRejection } from "./gen/neural_heatmap/v1/ingest_pb.js";
import type { IngestActivationsResponse } from "./gen/neural_heatmap/v1/neural_heatmap_service_pb.js";
import type { Model as PbModel } from "./gen/neural_heatmap/v1/models_pb.js";
import type { Tensor } from "./gen/neural_heatmap/v1/tensor_pb.js";
import type * as upb from "./gen/neural_heatmap/v1/updates_pb.js";
import { LayoutSchema, ThemeSettingsSchema, type Filter as PbFilter, type Layout, type ThemeSettings } from "./gen/neural_heatmap/v1/view_pb.js";
import type { MetadataValue } from "./gen/neural_heatmap/v1/metadata_pb.js";
import { metadataMap } from "./metadata.js";
import type { Metadata, Point } from "./plain.js";
import { tensorToFloat32Array } from "./tensor.js";
import { oscillatingUnitOf, unitStatisticsOf, type OscillatingUnit, type UnitStatistics } from "./units.js";

export type { Metadata, Point } from "./plain.js";

export function dateOf(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

/** uint64 counts (frames, bytes, samples) as numbers: exact up to 2^53, far above any real count. */
function count(v: bigint): number {
  return Number(v);
}

function metadataOf(m: { [key: string]: MetadataValue } | undefined): Metadata {
  return metadataMap(m ?? {});
}

function point(p: { x: number; y: number } | undefined): Point | undefined {
  return p ? { x: p.x, y: p.y } : undefined;
}

/** A square matrix with its values as a row-major Float32Array. */
export interface SquareMatrix {
  /** n for an n x n matrix. */
  size: number;
  /** Row-major n*n values; a view over the received bytes when aligned. */
  values: Float32Array;
  /** values[i * size + j]. */
  at(i: number, j: number): number;
}

export function squareMatrix(t: Tensor | undefined, what: string): SquareMatrix {
  const values = t ? tensorToFloat32Array(t) : new Float32Array(0);
  const shape = t?.shape.map(Number) ?? [0, 0];
  const size = shape[0] ?? 0;
  if (shape.length !== 2 || shape[1] !== size) throw new TypeError(`${what} is not square: [${shape.join(", ")}]`);
  return { size, values, at: (i, j) => values[i * size + j]! };
}

/** A correlation matrix: labels ("model/layer" or "model/layer/unit") and the values. */
export interface CorrelationMatrixView extends SquareMatrix {
  labels: string[];
  timestamp?: Date;
  metadata: Metadata;
}

export function correlationMatrixOf(m: pb.CorrelationMatrix | undefined): CorrelationMatrixView {
  return {
    ...squareMatrix(m?.matrix, "correlation matrix"),
    labels: m?.labels ?? [],
    timestamp: dateOf(m?.timestamp),
    metadata: metadataOf(m?.metadata),
  };
}

export interface Layer {
  layerId: string;
  units: number;
  width: number;
  height: number;
  frames: number;
  /** Each unit's canvas location (filled when listModels was asked for units). */
  unitsDetail: { index: number; location?: Point }[];
}

export interface Model {
  modelId: string;
  layers: Layer[];
  frames: number;
  firstTimestamp?: Date;
  lastTimestamp?: Date;
}

export function modelOf(m: PbModel): Model {
  return {
    modelId: m.modelId,
    frames: count(m.frames),
    firstTimestamp: dateOf(m.firstTimestamp),
    lastTimestamp: dateOf(m.lastTimestamp),
    layers: m.layers.map((l) => ({
      layerId: l.layerId,
      units: l.units,
      width: l.width,
      height: l.height,
      frames: count(l.frames),
      unitsDetail: l.unitsDetail.map((u) => ({ index: u.index, location: point(u.location) })),
    })),
  };
}

export interface TemporalPattern {
  /** The known kinds; PatternType.UNSPECIFIED for a kind the contract does not know yet. */
  patternType: PatternType;
  /** The kind as the server named it ("periodic", "trend", "state_change", or a newer one). */
  patternTypeName: string;
  frequency?: number;
  amplitude?: number;
  phase?: number;
  confidence: number;
  startTime?: Date;
  endTime?: Date;
  metadata: Metadata;
  modelId: string;
  layerId: string;
  /** The unit whose own series this is (Granularity.UNIT); undefined for a layer's series. */
  unit?: number;
  /** That unit's canvas cell. */
  location?: Point;
}

export function patternOf(p: pb.TemporalPattern): TemporalPattern {
  return {
    patternType: p.patternType,
    patternTypeName: p.patternTypeName,
    frequency: p.frequency,
    amplitude: p.amplitude,
    phase: p.phase,
    confidence: p.confidence,
    startTime: dateOf(p.startTime),
    endTime: dateOf(p.endTime),
    metadata: metadataOf(p.metadata),
    modelId: p.modelId,
    layerId: p.layerId,
    unit: p.unit,
    location: point(p.location),
  };
}

export interface LayerStatistics {
  modelId: string;
  layerId: string;
  samples: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  trendSlope: number;
  dominantFrequency: number;
  periodicityStrength: number;
  stateChanges: number;
}

export interface TemporalStatistics {
  modelId: string;
  layers: LayerStatistics[];
  increasingTrends: number;
  decreasingTrends: number;
  flatTrends: number;
  periodicLayers: number;
  /** The server's statistics as it sent them. */
  raw: Metadata;
  /** Every selected unit's statistics (Granularity.UNIT), layer by layer. */
  units: UnitStatistics[];
  /** The selected units whose periodicity passes the periodic threshold, strongest first. */
  oscillatingUnits: OscillatingUnit[];
}

export function statisticsOf(s: pb.TemporalStatistics | undefined): TemporalStatistics {
  return {
    modelId: s?.modelId ?? "",
    layers: (s?.layers ?? []).map((l) => ({
      modelId: l.modelId,
      layerId: l.layerId,
      samples: count(l.samples),
      mean: l.mean,
      std: l.std,
      min: l.min,
      max: l.max,
      trendSlope: l.trendSlope,
      dominantFrequency: l.dominantFrequency,
      periodicityStrength: l.periodicityStrength,
      stateChanges: l.stateChanges,
    })),
    increasingTrends: s?.increasingTrends ?? 0,
    decreasingTrends: s?.decreasingTrends ?? 0,
    flatTrends: s?.flatTrends ?? 0,
    periodicLayers: s?.periodicLayers ?? 0,
    raw: metadataOf(s?.raw),
    units: (s?.units ?? []).map(unitStatisticsOf),
    oscillatingUnits: (s?.oscillatingUnits ?? []).map(oscillatingUnitOf),
  };
}

export interface Anomaly {
  /** Position in the server's anomaly log: the resume point of the anomaly stream. */
  sequence: bigint;
  /** The known kinds; AnomalyType.UNSPECIFIED for a kind the contract does not know yet. */
  anomalyType: AnomalyType;
  /** The kind as the server named it ("spike", "non_finite", ..., or a newer one). */
  anomalyTypeName: string;
  severity: Severity;
  timestamp?: Date;
  location?: Point;
  layer: string;
  modelId: string;
  score: number;
  description: string;
  metadata: Metadata;
}

export function anomalyOf(a: pb.Anomaly): Anomaly {
  return {
    sequence: a.sequence,
    anomalyType: a.anomalyType,
    anomalyTypeName: a.anomalyTypeName,
    severity: a.severity,
    timestamp: dateOf(a.timestamp),
    location: point(a.location),
    layer: a.layer,
    modelId: a.modelId,
    score: a.score,
    description: a.description,
    metadata: metadataOf(a.metadata),
  };
}

/** One page of the anomaly log. */
export interface AnomalyPage {
  anomalies: Anomaly[];
  /** Newest sequence in the log (0n when empty). */
  lastSequence: bigint;
  /** Oldest sequence still retained (0n when empty). */
  firstSequence: bigint;
}

export interface ModelComparison extends SquareMatrix {
  /** The models, in the order of the similarity matrix's rows. */
  modelIds: string[];
  metrics: { metric: string; values: Record<string, number> }[];
  layerSimilarity: { modelA: string; layerA: string; modelB: string; layerB: string; cka: number }[];
  steps: number;
  metadata: Metadata;
}

export function comparisonOf(c: pb.ModelComparison | undefined): ModelComparison {
  return {
    ...squareMatrix(c?.similarityMatrix, "similarity matrix"),
    modelIds: c?.modelIds ?? [],
    metrics: (c?.metrics ?? []).map((m) => ({ metric: m.metric, values: { ...m.values } })),
    layerSimilarity: (c?.layerSimilarity ?? []).map((s) => ({
      modelA: s.modelA,
      layerA: s.layerA,
      modelB: s.modelB,
      layerB: s.layerB,
      cka: s.cka,
    })),
    steps: count(c?.steps ?? 0n),
    metadata: metadataOf(c?.metadata),
  };
}

/** The view filter, with times as Dates. */
export interface Filter {
  modelIds: string[];
  layerIds: string[];
  intensityRange?: { min: number; max: number };
  spatialBounds?: { minX: number; minY: number; maxX: number; maxY: number };
  timeRange?: { start?: Date; end?: Date };
}

export function filterOf(f: PbFilter | undefined): Filter {
  const r = f?.intensityRange;
  const b = f?.spatialBounds;
  const t = f?.timeRange;
  return {
    modelIds: f?.modelIds ?? [],
    layerIds: f?.layerIds ?? [],
    intensityRange: r ? { min: r.min, max: r.max } : undefined,
    spatialBounds: b ? { minX: b.minX, minY: b.minY, maxX: b.maxX, maxY: b.maxY } : undefined,
    timeRange: t ? { start: dateOf(t.start), end: dateOf(t.end) } : undefined,
  };
}

export interface ExportedFile {
  name: string;
  size: number;
}

export interface ExportResult {
  filename: string;
  format: ExportFormat;
  files: ExportedFile[];
  bytes: number;
}

export function exportedFileOf(f: PbExportedFile): ExportedFile {
  return { name: f.name, size: count(f.size) };
}

export function exportResultOf(r: PbExportResult | undefined): ExportResult {
  return {
    filename: r?.filename ?? "",
    format: r?.format ?? 0,
    files: (r?.files ?? []).map(exportedFileOf),
    bytes: count(r?.bytes ?? 0n),
  };
}

/** One heatmap frame of a layer: its units' values laid out on a width x height canvas. */
export interface HeatmapFrame {
  timestamp?: Date;
  modelId: string;
  layer: string;
  intensity: number;
  location?: Point;
  step: number;
  width: number;
  height: number;
  /** The units' values (float32 view). */
  values: Float32Array;
}

export function heatmapOf(h: upb.HeatmapUpdate): HeatmapFrame {
  return {
    timestamp: dateOf(h.timestamp),
    modelId: h.modelId,
    layer: h.layer,
    intensity: h.intensity,
    location: point(h.location),
    step: Number(h.step),
    width: h.width,
    height: h.height,
    values: h.values ? tensorToFloat32Array(h.values) : new Float32Array(0),
  };
}

export interface TemporalUpdate {
  timestamp?: Date;
  patterns: TemporalPattern[];
  trends: Metadata[];
  stateChanges: Metadata[];
}

export function temporalUpdateOf(u: upb.TemporalUpdate): TemporalUpdate {
  return {
    timestamp: dateOf(u.timestamp),
    patterns: u.patterns.map(patternOf),
    trends: u.trends.map((m) => metadataOf(m.fields)),
    stateChanges: u.stateChanges.map((m) => metadataOf(m.fields)),
  };
}

/** One message of `streamUpdates`, by kind. Heartbeats are not among them (see docs/clients.md). */
export type Update =
  | { kind: "heatmap"; heatmap: HeatmapFrame }
  | { kind: "correlation"; correlation: CorrelationMatrixView }
  | { kind: "temporal"; temporal: TemporalUpdate }
  | { kind: "anomaly"; anomalies: Anomaly[]; severity: Severity; description: string; timestamp?: Date }
  | { kind: "view"; view: ViewState };

/** The stored view, whole (UpdateType.VIEW): what a dashboard draws in. */
export interface ViewState {
  filter: Filter;
  theme: ThemeSettings;
  layout: Layout;
  timestamp?: Date;
}

export function viewStateOf(v: upb.ViewUpdate): ViewState {
  return {
    filter: filterOf(v.filter),
    theme: v.theme ?? create(ThemeSettingsSchema),
    layout: v.layout ?? create(LayoutSchema),
    timestamp: dateOf(v.timestamp),
  };
}

export interface IngestResult {
  framesAccepted: number;
  framesRejected: number;
  /** Why frames were rejected (at most the first 100). */
  rejections: { index: number; modelId: string; layerId: string; code: string; message: string }[];
  details: Metadata;
}

export function ingestResultOf(r: IngestActivationsResponse): IngestResult {
  return {
    framesAccepted: count(r.framesAccepted),
    framesRejected: count(r.framesRejected),
    rejections: r.rejections.map((x: FrameRejection) => ({
      index: count(x.index),
      modelId: x.modelId,
      layerId: x.layerId,
      code: x.code,
      message: x.message,
    })),
    details: metadataOf(r.details),
  };
}

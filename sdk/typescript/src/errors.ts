/**
 * Typed errors. Every failure of a client call is a `NeuralHeatmapError` (or a subclass, one
 * per gRPC status code, named as the Python SDK names them), carrying the status code, the
 * bridge's `google.rpc.ErrorInfo` (reason, domain, metadata) and the other `google.rpc`
 * details it sends (`BadRequest` field violations, `RetryInfo`), so callers branch on a
 * class or a reason word instead of parsing messages:
 *
 *   try { await client.getLayout(); } catch (e) {
 *     if (e instanceof NotFoundError) ...; else if (e instanceof NeuralHeatmapError && e.reason === "SEQUENCE_EXPIRED") ...
 *   }
 *
 * The reasons are the error table's (docs/bridge.md, "Errors").
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
  type BadRequest_FieldViolation,
  type ErrorInfo,
} from "./gen/google/rpc/error_details_pb.js";

/** "NOT_FOUND" for Code.NotFound: the canonical name the error table and the docs use. */
export function codeName(code: Code): string {
  return Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase().replace("CANCELED", "CANCELLED");
}

/** A failed call: status code, message, and the bridge's google.rpc details. */
export class NeuralHeatmapError extends Error {
  override name = "NeuralHeatmapError";
  /** The gRPC status code (connect's `Code` enum: `Code.NotFound`, ...). */
  readonly code: Code;
  /** `ErrorInfo.reason` ("NOT_FOUND", "SEQUENCE_EXPIRED", "UPSTREAM_UNAVAILABLE", ...), when sent. */
  readonly reason: string | undefined;
  /** `ErrorInfo.domain` ("neural-heatmap.dev" for the bridge), when sent. */
  readonly domain: string | undefined;
  /** `ErrorInfo.metadata` (e.g. the upstream's HTTP status and route). */
  readonly errorMetadata: Readonly<Record<string, string>>;
  /** `BadRequest.field_violations`: which request field was wrong and why. */
  readonly fieldViolations: readonly { field: string; description: string }[];
  /** `RetryInfo.retry_delay` in ms: how long the server asks the caller to wait. */
  readonly retryDelayMs: number | undefined;
  /** The status message without the code prefix. */
  readonly rawMessage: string;
  /** Response headers and trailers of the failed call. */
  readonly metadata: Headers;

  constructor(err: ConnectError) {
    super(`[${codeName(err.code)}] ${err.rawMessage}`, { cause: err });
    this.code = err.code;
    this.rawMessage = err.rawMessage;
    this.metadata = err.metadata;
    const info: ErrorInfo | undefined = err.findDetails(ErrorInfoSchema)[0];
    this.reason = info?.reason || undefined;
    this.domain = info?.domain || undefined;
    this.errorMetadata = { ...(info?.metadata ?? {}) };
    this.fieldViolations = err
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations)
      .map((v: BadRequest_FieldViolation) => ({ field: v.field, description: v.description }));
    const delay = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryDelayMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) : undefined;
  }

  /** "NOT_FOUND", as in the error table. */
  get codeName(): string {
    return codeName(this.code);
  }
}

/* One class per status code, so `catch (e) { if (e instanceof NotFoundError) ... }` reads as intended. */
export class RequestCancelledError extends NeuralHeatmapError { override name = "RequestCancelledError"; }
export class UnknownError extends NeuralHeatmapError { override name = "UnknownError"; }
export class InvalidArgumentError extends NeuralHeatmapError { override name = "InvalidArgumentError"; }
export class DeadlineExceededError extends NeuralHeatmapError { override name = "DeadlineExceededError"; }
export class NotFoundError extends NeuralHeatmapError { override name = "NotFoundError"; }
export class AlreadyExistsError extends NeuralHeatmapError { override name = "AlreadyExistsError"; }
export class PermissionDeniedError extends NeuralHeatmapError { override name = "PermissionDeniedError"; }
export class ResourceExhaustedError extends NeuralHeatmapError { override name = "ResourceExhaustedError"; }
export class FailedPreconditionError extends NeuralHeatmapError { override name = "FailedPreconditionError"; }
export class AbortedError extends NeuralHeatmapError { override name = "AbortedError"; }
export class OutOfRangeError extends NeuralHeatmapError { override name = "OutOfRangeError"; }
export class UnimplementedError extends NeuralHeatmapError { override name = "UnimplementedError"; }
export class InternalError extends NeuralHeatmapError { override name = "InternalError"; }
export class UnavailableError extends NeuralHeatmapError { override name = "UnavailableError"; }
export class DataLossError extends NeuralHeatmapError { override name = "DataLossError"; }
export class UnauthenticatedError extends NeuralHeatmapError { override name = "UnauthenticatedError"; }

/** The class thrown for each status code (the Python SDK's EXCEPTION_BY_CODE, in TypeScript). */
export const ERROR_CLASS_BY_CODE: Readonly<Record<Code, new (err: ConnectError) => NeuralHeatmapError>> = {
  [Code.Canceled]: RequestCancelledError,
  [Code.Unknown]: UnknownError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
  [Code.NotFound]: NotFoundError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.Aborted]: AbortedError,
  [Code.OutOfRange]: OutOfRangeError,
  [Code.Unimplemented]: UnimplementedError,
  [Code.Internal]: InternalError,
  [Code.Unavailable]: UnavailableError,
  [Code.DataLoss]: DataLossError,
  [Code.Unauthenticated]: UnauthenticatedError,
};

/** Any thrown value as the typed error of its status code (an error already typed is returned as is). */
export function toNeuralHeatmapError(err: unknown): NeuralHeatmapError {
  if (err instanceof NeuralHeatmapError) return err;
  const ce = ConnectError.from(err);
  return new ERROR_CLASS_BY_CODE[ce.code](ce);
}

/** A typed error the client itself raises (e.g. DATA_LOSS for a download that ended early). */
export function clientError(code: Code, message: string): NeuralHeatmapError {
  return toNeuralHeatmapError(new ConnectError(message, code));
}

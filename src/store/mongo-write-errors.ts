/**
 * How MongoRunStore tells an update MongoDB refuses for good (record a tracking error, skip it) from a
 * failure a retry may fix (throw: the recorder or reconciler retries the batch). Read against the driver 7
 * (`node_modules/mongodb/src/bulk/common.ts`, `error.ts`): a `MongoBulkWriteError` carries the
 * per-statement errors and the write-concern error in `result` (`getWriteErrors()`,
 * `getWriteConcernError()`); its own `writeErrors` is empty when the reply also had a write-concern error,
 * and it has no `writeConcernError` field at all.
 */
import { BSON, MongoBulkWriteError, MongoError, MongoInvalidArgumentError, MongoServerError } from 'mongodb';

/**
 * - `duplicate`: a duplicate key; on `{run_id}` two upserts of one new run raced, and the second try matches.
 * - `transient`: the server, the replica set or the environment (election, shutdown, timeout, lock, write
 *   conflict, permissions, disk quota) — never the statement's fault: retried, however long it takes.
 * - `permanent`: the statement itself is refused (too large, invalid, fails validation): retrying gives the
 *   same answer.
 * - `unknown`: a code in neither list: retried a few times, then treated as permanent (see
 *   {@link MongoRunStoreOptions.unknownErrorAttempts}) so one poison update can't block a queue for ever.
 */
export type WriteErrorKind = 'duplicate' | 'transient' | 'permanent' | 'unknown';

/** Duplicate key (11000; 11001 and 12582 from older servers and mongos). */
export const DUPLICATE_KEY_CODES: ReadonlySet<number> = new Set([11000, 11001, 12582]);

/** Codes that say nothing about the statement: retried (MongoDB's retryable codes and their kin). */
export const TRANSIENT_WRITE_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'HostUnreachable'],
  [7, 'HostNotFound'],
  [13, 'Unauthorized (a role is missing: fix the user, the writes wait)'],
  [18, 'AuthenticationFailed'],
  [24, 'LockTimeout'],
  [46, 'LockBusy'],
  [50, 'MaxTimeMSExpired'],
  [63, 'StaleShardVersion'],
  [64, 'WriteConcernFailed'],
  [79, 'UnknownReplWriteConcern'],
  [89, 'NetworkTimeout'],
  [91, 'ShutdownInProgress'],
  [100, 'UnsatisfiableWriteConcern'],
  [112, 'WriteConflict'],
  [117, 'ConflictingOperationInProgress'],
  [133, 'FailedToSatisfyReadPreference'],
  [134, 'ReadConcernMajorityNotAvailableYet'],
  [150, 'StaleEpoch'],
  [189, 'PrimarySteppedDown'],
  [202, 'NetworkInterfaceExceededTimeLimit'],
  [262, 'ExceededTimeLimit'],
  [8000, 'AtlasError (e.g. over the space quota)'],
  [9001, 'SocketException'],
  [10058, 'LegacyNotPrimary'],
  [10107, 'NotWritablePrimary'],
  [11600, 'InterruptedAtShutdown'],
  [11601, 'Interrupted'],
  [11602, 'InterruptedDueToReplStateChange'],
  [12586, 'BackgroundOperationInProgressForNamespace'],
  [13388, 'StaleConfig'],
  [13435, 'NotPrimaryNoSecondaryOk'],
  [13436, 'NotPrimaryOrSecondary'],
  [14031, 'OutOfDiskSpace'],
]);

/**
 * Codes for which the statement itself is at fault: the same update is refused again, so it is recorded
 * as a tracking error and skipped. Sizes and nesting, invalid field names or paths, type and conversion
 * errors of the update pipeline's expressions, document validation.
 */
export const PERMANENT_WRITE_CODES: ReadonlyMap<number, string> = new Map([
  [2, 'BadValue'],
  [4, 'NoSuchKey'],
  [9, 'FailedToParse'],
  [10, 'CannotMutateObject'],
  [14, 'TypeMismatch'],
  [15, 'Overflow (e.g. nesting too deep)'],
  [16, 'InvalidLength'],
  [22, 'InvalidBSON'],
  [28, 'PathNotViable'],
  [30, 'InvalidPath'],
  [40, 'ConflictingUpdateOperators'],
  [52, 'DollarPrefixedFieldName'],
  [53, 'InvalidIdField'],
  [54, 'NotSingleValueField'],
  [55, 'InvalidDBRef'],
  [56, 'EmptyFieldName'],
  [57, 'DottedFieldName'],
  [61, 'ShardKeyNotFound'],
  [66, 'ImmutableField'],
  [121, 'DocumentValidationFailure'],
  [168, 'InvalidPipelineOperator'],
  [241, 'ConversionFailure'],
  [10334, 'BSONObjectTooLarge'],
  [15998, 'FieldPath field names may not be empty'],
  [16020, 'expression arity'],
  [16410, "FieldPath field names may not start with '$'"],
  [16412, "FieldPath field names may not contain '.'"],
  [16554, 'arithmetic on a non-number'],
  [17419, 'the updated document would exceed 16 MiB'],
  [40352, 'FieldPath cannot be constructed with an empty string'],
]);

/** The kind of a server error code (see {@link WriteErrorKind}); a missing code is `unknown`. */
export function classifyWriteCode(code: unknown): WriteErrorKind {
  const n = typeof code === 'number' ? code : Number(code);
  if (!Number.isInteger(n)) return 'unknown';
  if (DUPLICATE_KEY_CODES.has(n)) return 'duplicate';
  if (TRANSIENT_WRITE_CODES.has(n)) return 'transient';
  if (PERMANENT_WRITE_CODES.has(n)) return 'permanent';
  return 'unknown';
}

/**
 * The kind of an error that is not one statement's (a whole command refused, a driver error): network and
 * driver-side failures (no numeric code) and errors labelled retryable are `transient`; the driver's refusal
 * to send a statement (too large for BSON, not serialisable) is `permanent`; a server code as above.
 */
export function classifyError(err: unknown): WriteErrorKind {
  if (err instanceof MongoInvalidArgumentError || BSON.BSONError.isBSONError(err)) return 'permanent';
  if (!(err instanceof MongoError)) return 'unknown';
  if (
    err.hasErrorLabel('RetryableWriteError') ||
    err.hasErrorLabel('TransientTransactionError') ||
    err.hasErrorLabel('PoolRequestedRetry')
  ) {
    return 'transient';
  }
  if (!(err instanceof MongoServerError) || typeof err.code !== 'number') return 'transient';
  const kind = classifyWriteCode(err.code);
  return kind === 'duplicate' ? 'unknown' : kind;
}

/** One statement's error in a bulk write reply. */
export interface StatementError {
  /** Position of the statement in the bulk write. */
  index: number;
  code: number | undefined;
  errmsg: string;
}

/** What a failed bulk write says, read through the driver's accessors. */
export interface BulkFailure {
  /** Errors of single statements (the other statements were applied). */
  writeErrors: StatementError[];
  /** The write concern was not satisfied: what was written may not last, so the batch is retried. */
  writeConcernError: { code: number | undefined; errmsg: string } | null;
  /** The command failed as a whole (no statement's result is known): its kind, code and message. */
  whole: { kind: WriteErrorKind; code: number | undefined; message: string } | null;
}

const codeOf = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * Reads what `bulkWrite` threw. A `MongoBulkWriteError` gives its statement errors and write-concern error
 * (both may come in one reply); with neither, the command failed as a whole (a thrown server or network
 * error the driver wrapped). The driver's own refusal before sending is a whole failure too. Anything else
 * (not a MongoDB error) is null: the caller rethrows it.
 */
export function readBulkFailure(err: unknown): BulkFailure | null {
  if (err instanceof MongoBulkWriteError) {
    const fromResult = err.result?.getWriteErrors?.();
    const list = fromResult ?? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]);
    const writeErrors = list
      .filter((we) => we !== undefined && we !== null)
      .map((we) => ({ index: we.index, code: codeOf(we.code), errmsg: String(we.errmsg ?? '') }));
    const wce = err.result?.getWriteConcernError?.() ?? err.err;
    const writeConcernError = wce ? { code: codeOf(wce.code), errmsg: String(wce.errmsg ?? '') } : null;
    const whole =
      writeErrors.length === 0 && !writeConcernError
        ? { kind: classifyError(err), code: codeOf(err.code), message: err.message }
        : null;
    return { writeErrors, writeConcernError, whole };
  }
  if (
    err instanceof MongoError ||
    err instanceof MongoInvalidArgumentError ||
    BSON.BSONError.isBSONError(err)
  ) {
    return {
      writeErrors: [],
      writeConcernError: null,
      whole: {
        kind: classifyError(err),
        code: err instanceof MongoServerError ? codeOf(err.code) : undefined,
        message: (err as Error).message,
      },
    };
  }
  return null;
}

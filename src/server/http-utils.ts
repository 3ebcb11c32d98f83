// Small HTTP helpers: header parsing, bounded body reading, JSON bodies checked against a schema.
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { RegistryError } from '../oci/errors.js';
import { findDuplicateKey } from '../oci/strict-json.js';
import type { ByteRange } from '../store/blobs/blob-store.js';

/** The declared body length, or null when chunked/unknown. */
export function contentLength(req: IncomingMessage): number | null {
  const v = req.headers['content-length'];
  if (v === undefined) return null;
  if (!/^\d+$/.test(v)) throw new RegistryError('SIZE_INVALID', 'malformed Content-Length');
  return Number(v);
}

/** Whether the request carries a body at all. */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  // HTTP/2 has no chunked encoding: a body of unknown length is a stream that did not end with its headers.
  const h2 = (req as { stream?: { endAfterHeaders?: boolean } }).stream;
  if (req.httpVersionMajor === 2 && h2) return h2.endAfterHeaders === false;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Content-Range of a chunk upload: "start-end" (Distribution), also "bytes start-end/total" or "bytes=start-end". */
export function parseUploadContentRange(v: string | undefined): ByteRange | null {
  if (v === undefined) return null;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(v.trim());
  if (!m) throw new RegistryError('RANGE_INVALID', `malformed Content-Range: ${v.slice(0, 100)}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RegistryError('RANGE_INVALID', `invalid Content-Range: ${v.slice(0, 100)}`);
  }
  return { start, end };
}

/**
 * A single byte range from a Range header against a blob of `size` bytes. Null (the whole blob, 200)
 * when there is no Range header, when its unit is not bytes (RFC 9110 says to ignore it) and when it
 * asks for several ranges (served whole rather than as multipart). Unsatisfiable or malformed byte
 * ranges are RANGE_INVALID (416).
 */
export function parseRangeHeader(v: string | undefined, size: number): ByteRange | null {
  if (v === undefined) return null;
  const spec = v.trim();
  if (!/^bytes=/i.test(spec) || spec.includes(',')) return null;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(spec);
  if (!m || (m[1] === '' && m[2] === '')) throw new RegistryError('RANGE_INVALID', `unsupported Range: ${v.slice(0, 100)}`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    // Suffix range: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) throw new RegistryError('RANGE_INVALID', 'empty suffix range');
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) {
    throw new RegistryError('RANGE_INVALID', `range ${v.slice(0, 100)} not satisfiable for ${size} bytes`);
  }
  return { start, end };
}

/** Reads a whole request body of at most `limit` bytes (manifests only — never blobs). */
export async function readBoundedBody(req: IncomingMessage, limit: number, tooBig: () => RegistryError): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== null && declared > limit) throw tooBig();
  const chunks: Buffer[] = [];
  let total = 0;
  // Leave the request undestroyed on a refusal, so the rest can be drained and the connection reused.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw tooBig();
    chunks.push(chunk);
  }
  if (declared !== null && total !== declared) throw new RegistryError('SIZE_INVALID', 'body shorter than Content-Length');
  return Buffer.concat(chunks, total);
}

/** Largest unread body drained after a refusal to keep the connection; beyond it the connection is cut. */
const MAX_DRAIN_BYTES = 64 << 20;

/**
 * After a refusal, discards what is left of the request body so the client can read the answer and
 * reuse the connection; a body too large to be worth it gets the connection closed instead.
 */
export function drainRequest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    // Under HTTP/2 the compat socket's destroy() ends this request's stream only, not the connection.
    if (drained > MAX_DRAIN_BYTES) req.socket.destroy();
  });
  req.resume();
}

/** A value checked against a schema: 400 INVALID naming each path that is wrong. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, hint = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const said = r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new RegistryError('INVALID', hint ? `${said}: ${hint}` : said, {
      detail: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}

/** A JSON request body (no duplicate keys) checked against a schema; `hint` says what to send instead. */
export function parseJsonBody<S extends z.ZodType>(raw: Buffer, schema: S, hint = ''): z.output<S> {
  const text = raw.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RegistryError('INVALID', `the body is not JSON${hint ? `: ${hint}` : ''}`);
  }
  const dup = findDuplicateKey(text);
  if (dup !== null) throw new RegistryError('INVALID', `duplicate key ${JSON.stringify(dup)} in the body`);
  return validate(schema, parsed, hint);
}

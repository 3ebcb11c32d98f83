// Parsing and structural validation of image manifests and indexes (no I/O).
import { RegistryError } from './errors.js';
import { tryParseDigest } from './digest.js';
import { manifestKinds, isForeignLayer, type ManifestKind } from './media-types.js';
import { findDuplicateKey } from './strict-json.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Record<string, unknown>;
}

/** What the registry needs to know about a manifest to store and serve it. */
export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /** Blobs this manifest needs in the repository (config and distributable layers). */
  blobs: Descriptor[];
  /** Manifests this index needs in the repository. */
  children: Descriptor[];
  subject?: Descriptor;
  /** artifactType, or for images without one the config media type (as the referrers API reports). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string): never {
  throw new RegistryError('MANIFEST_INVALID', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) invalid(`${where}: descriptor must be an object`);
  const { mediaType, digest, size, artifactType, annotations, urls, platform } = v;
  if (typeof mediaType !== 'string' || mediaType.length === 0) invalid(`${where}: mediaType must be a non-empty string`);
  if (typeof digest !== 'string' || !tryParseDigest(digest)) invalid(`${where}: invalid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}: size must be a non-negative integer`);
  const d: Descriptor = { mediaType, digest, size };
  if (artifactType !== undefined) {
    if (typeof artifactType !== 'string') invalid(`${where}: artifactType must be a string`);
    d.artifactType = artifactType;
  }
  if (annotations !== undefined) d.annotations = parseAnnotations(annotations, where);
  if (urls !== undefined) {
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) invalid(`${where}: urls must be strings`);
    d.urls = urls as string[];
  }
  if (platform !== undefined) {
    if (!isObject(platform)) invalid(`${where}: platform must be an object`);
    d.platform = platform;
  }
  return d;
}

function parseAnnotations(v: unknown, where: string): Record<string, string> {
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) invalid(`${where}: annotations must map strings to strings`);
  return v as Record<string, string>;
}

function parseDescriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) invalid(`${where} must be an array`);
  return v.map((d, i) => parseDescriptor(d, `${where}[${i}]`));
}

/** Content-Types that name no manifest type: the body's `mediaType` alone decides. */
const genericContentTypes = new Set(['application/json', 'application/octet-stream']);

/**
 * Parses manifest bytes. The media type is the body's `mediaType`, or when absent the request's
 * Content-Type; when both name a type they must agree. Duplicate keys are refused.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    doc = JSON.parse(text);
  } catch {
    invalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) invalid('manifest must be a JSON object');
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) invalid(`manifest has the key ${JSON.stringify(duplicate.slice(0, 100))} twice in one object`);
  const ct = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') invalid('mediaType must be a string');
  const mediaType = (bodyType as string | undefined) ?? ct;
  if (!mediaType) invalid('manifest media type unknown: set mediaType or Content-Type');
  if (bodyType !== undefined && ct !== undefined && !genericContentTypes.has(ct) && ct !== bodyType) {
    invalid(`mediaType ${bodyType} does not match Content-Type ${ct}`);
  }
  const kind = manifestKinds.get(mediaType);
  if (!kind) {
    // Docker schema 1 and other formats are not accepted.
    throw new RegistryError('MANIFEST_INVALID', `unsupported manifest media type: ${mediaType.slice(0, 200)}`);
  }
  if (doc.schemaVersion !== 2) invalid('schemaVersion must be 2');

  const out: ParsedManifest = { mediaType, kind, blobs: [], children: [] };
  if (doc.subject !== undefined) out.subject = parseDescriptor(doc.subject, 'subject');
  if (doc.annotations !== undefined) out.annotations = parseAnnotations(doc.annotations, 'annotations');
  if (doc.artifactType !== undefined) {
    if (typeof doc.artifactType !== 'string') invalid('artifactType must be a string');
    out.artifactType = doc.artifactType;
  }

  if (kind === 'image') {
    if ('manifests' in doc) invalid('an image manifest has no manifests');
    const config = parseDescriptor(doc.config, 'config');
    const layers = parseDescriptors(doc.layers ?? [], 'layers');
    if (doc.layers === undefined && mediaType !== 'application/vnd.oci.image.manifest.v1+json') invalid('layers is required');
    out.blobs = [config, ...layers.filter((l) => !(isForeignLayer(l.mediaType) && l.urls && l.urls.length > 0))];
    out.artifactType ??= config.mediaType;
  } else {
    if ('layers' in doc || 'config' in doc) invalid('an index has no layers or config');
    out.children = parseDescriptors(doc.manifests, 'manifests');
  }
  return out;
}

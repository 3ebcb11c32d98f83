// Manifest conversion between OCI and Docker schema 2 (--format). Config and layer bytes never change,
// only media types in the manifest; so converted manifests get new digests.
import { MediaTypes } from '../oci/media-types.js';
import { WharfError } from '../oci/errors.js';

export type ManifestFormat = 'oci' | 'v2s2';

const layerToDocker: Record<string, string> = {
  'application/vnd.oci.image.layer.v1.tar+gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.v1.tar': 'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': MediaTypes.dockerForeignLayer,
};
const layerToOci: Record<string, string> = Object.fromEntries(Object.entries(layerToDocker).map(([a, b]) => [b, a]));

export class ConversionError extends WharfError {}

type Json = Record<string, unknown>;
type Desc = Json & { mediaType: string };

export function formatOf(mediaType: string): ManifestFormat | null {
  if (mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.ociIndex) return 'oci';
  if (mediaType === MediaTypes.dockerManifest || mediaType === MediaTypes.dockerManifestList) return 'v2s2';
  return null;
}

/** Converts an image manifest; returns the new bytes and media type. */
export function convertImageManifest(bytes: Buffer, to: ManifestFormat): { bytes: Buffer; mediaType: string } {
  const doc = JSON.parse(bytes.toString('utf8')) as Json & { config: Desc; layers: Desc[] };
  if (to === 'v2s2') {
    if (doc.subject || doc.artifactType) throw new ConversionError('an artifact manifest (with subject or artifactType) cannot be converted to Docker schema 2');
    const configType = doc.config.mediaType === MediaTypes.ociConfig ? MediaTypes.dockerConfig : doc.config.mediaType;
    if (configType !== MediaTypes.dockerConfig) throw new ConversionError(`config type ${doc.config.mediaType} cannot be converted to Docker schema 2`);
    const out = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: descriptor(doc.config, MediaTypes.dockerConfig, false),
      layers: doc.layers.map((l) => {
        const mt = l.mediaType.startsWith('application/vnd.docker.') ? l.mediaType : layerToDocker[l.mediaType];
        if (!mt) throw new ConversionError(`layer type ${l.mediaType} cannot be represented in Docker schema 2 (use --format oci)`);
        return descriptor(l, mt, false);
      }),
    };
    return { bytes: Buffer.from(JSON.stringify(out)), mediaType: MediaTypes.dockerManifest };
  }
  const out: Json = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: descriptor(doc.config, doc.config.mediaType === MediaTypes.dockerConfig ? MediaTypes.ociConfig : doc.config.mediaType, true),
    layers: doc.layers.map((l) => descriptor(l, layerToOci[l.mediaType] ?? l.mediaType, true)),
  };
  if (doc.annotations) out.annotations = doc.annotations;
  return { bytes: Buffer.from(JSON.stringify(out)), mediaType: MediaTypes.ociManifest };
}

/** Converts an index whose children were converted: `children` maps old child digests to their new descriptors. */
export function convertIndex(bytes: Buffer, to: ManifestFormat, children: Map<string, { digest: string; size: number; mediaType: string }>): { bytes: Buffer; mediaType: string } {
  const doc = JSON.parse(bytes.toString('utf8')) as Json & { manifests: Desc[] };
  const manifests = doc.manifests.map((m) => {
    const c = children.get(m.digest as string);
    const mediaType = c?.mediaType ?? m.mediaType;
    const digest = c?.digest ?? m.digest;
    const size = c?.size ?? m.size;
    // Field order as the containers tools marshal them (Docker: size before digest), so digests agree with skopeo's.
    const d: Json = to === 'v2s2' ? { mediaType, size, digest } : { mediaType, digest, size };
    if (m.platform) d.platform = m.platform;
    if (to === 'oci' && m.annotations) d.annotations = m.annotations;
    return d;
  });
  const mediaType = to === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
  const out: Json = { schemaVersion: 2, mediaType, manifests };
  if (to === 'oci' && doc.annotations) out.annotations = doc.annotations;
  return { bytes: Buffer.from(JSON.stringify(out)), mediaType };
}

function descriptor(d: Desc, mediaType: string, keepOciFields: boolean): Json {
  const out: Json = { mediaType, size: d.size, digest: d.digest };
  if (d.urls) out.urls = d.urls;
  if (keepOciFields && d.annotations) out.annotations = d.annotations;
  return out;
}

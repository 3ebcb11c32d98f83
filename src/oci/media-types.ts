// Media types of manifests and their parts, OCI and Docker.

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociNondistributableLayers: [
    'application/vnd.oci.image.layer.nondistributable.v1.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ],
} as const;

export type ManifestKind = 'image' | 'index';

/** The manifest media types this registry accepts, and whether each is an image or an index. */
export const manifestKinds: ReadonlyMap<string, ManifestKind> = new Map<string, ManifestKind>([
  [MediaTypes.ociManifest, 'image'],
  [MediaTypes.dockerManifest, 'image'],
  [MediaTypes.ociIndex, 'index'],
  [MediaTypes.dockerManifestList, 'index'],
]);

export function isIndexMediaType(mt: string): boolean {
  return manifestKinds.get(mt) === 'index';
}

/** Layers that live outside the registry (their `urls` point elsewhere) need not be pushed. */
export function isForeignLayer(mediaType: string): boolean {
  return mediaType === MediaTypes.dockerForeignLayer || (MediaTypes.ociNondistributableLayers as readonly string[]).includes(mediaType);
}

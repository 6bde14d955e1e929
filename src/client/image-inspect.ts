// What `image inspect` reports of a manifest or index: its digest, kind,
// layers or platform images, and the config (platform, created, labels),
// read through an ImageContent so that a loaded image and one in a
// registry are described the same way.
import type { Digest } from '../formats/digest.js';
import { parseManifest } from '../formats/manifest.js';
import type { ImageContent } from './image-content.js';

export interface InspectedImage {
  name: string;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index';
  /** `local`, or the registry it was read from. */
  source: string;
  manifestSize: number;
  /** image: its layers; index: absent */
  layers?: { digest: string; mediaType: string; size: number }[];
  /** index: its images */
  manifests?: { digest: string; mediaType: string; size: number; platform?: string }[];
  /** image: config and layers */
  size?: number;
  configDigest?: string;
  platform?: string;
  created?: string;
  config?: Record<string, unknown>;
  configError?: string;
  annotations?: Record<string, string>;
}

export async function inspectImage(content: ImageContent, name: string, reference: string, source: string, mediaType?: string): Promise<InspectedImage> {
  const m = await content.manifest(reference, mediaType);
  const parsed = parseManifest(m.bytes, m.mediaType);
  const doc: InspectedImage = { name, digest: m.digest, mediaType: parsed.mediaType || m.mediaType, kind: parsed.kind, source, manifestSize: m.bytes.length };
  const raw = JSON.parse(m.bytes.toString('utf8')) as {
    manifests?: { digest: string; mediaType: string; size: number; platform?: Record<string, string> }[];
    layers?: { digest: string; mediaType: string; size: number }[];
  };
  if (parsed.kind === 'index') {
    doc.manifests = (raw.manifests ?? []).map((c) => ({ digest: c.digest, mediaType: c.mediaType, size: c.size, ...(c.platform ? { platform: [c.platform.os, c.platform.architecture, c.platform.variant].filter(Boolean).join('/') } : {}) }));
  } else {
    doc.layers = (raw.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
    doc.size = doc.layers.reduce((n, l) => n + l.size, 0) + (parsed.config?.size ?? 0);
    if (parsed.config) {
      doc.configDigest = parsed.config.digest;
      try {
        const config = JSON.parse((await content.blobBytes(parsed.config.digest as Digest)).toString('utf8')) as Record<string, unknown>;
        doc.platform = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
        if (typeof config.created === 'string') doc.created = config.created;
        doc.config = config;
      } catch (err) {
        doc.configError = (err as Error).message;
      }
    }
  }
  if (parsed.annotations) doc.annotations = parsed.annotations;
  return doc;
}

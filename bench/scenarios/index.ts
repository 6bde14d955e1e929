import { bigLayer, pull, pushChunked, pushMonolithic } from './blobs.js';
import { catalog, tagsList, tagsListAfterPush, tagsListPaged } from './lists.js';
import { manifestGet, manifestHead, manifestPut } from './manifests.js';
import { podStorm } from './storm.js';
import type { Scenario } from './types.js';

// blob-push-big runs first (round 1 only) so that its peak RSS is not the
// left-over heap of an earlier scenario.
export const SCENARIOS: Scenario[] = [
  bigLayer, pushMonolithic, pushChunked, pull, manifestPut, manifestGet, manifestHead, tagsList, tagsListPaged, tagsListAfterPush, catalog, podStorm,
];

// The route a request matched, as a template ("/v2/{name}/manifests/{reference}"),
// never the raw path: metrics and logs keyed by it stay a bounded set
// whatever repository names and digests clients send.
import type { FastifyRequest } from 'fastify';

const matched = new WeakMap<FastifyRequest, string>();

/** For routers inside a route (the distribution API matches its endpoints itself). */
export function setRouteTemplate(req: FastifyRequest, template: string): void {
  matched.set(req, template);
}

/** The endpoint's template, else fastify's route pattern, else "unmatched" (a 404). */
export function routeTemplate(req: FastifyRequest): string {
  return matched.get(req) ?? req.routeOptions.url ?? 'unmatched';
}

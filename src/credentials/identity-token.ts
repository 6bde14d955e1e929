// Who an identity token signs in as. `docker login` keeps a refresh token
// instead of the password (and, in a credential helper, not even the user
// name); the registry's POST /v2/token refresh_token grant turns it into an
// access token whose `sub` claim names the account. The registry checked
// the refresh token before answering, so the claim is read, not verified.
import { Authenticator, type Scope } from '../client/registry-auth.js';
import { HttpTransport, type TransportOptions } from '../client/registry-http.js';

/** A scope every signed-in principal is granted an (empty or not) token for. */
const ANY_SCOPE: Scope = { type: 'registry', name: 'catalog', actions: ['*'] };

/** The account name behind an identity token, asking the registry at `url`; throws what the registry answered. */
export async function identityTokenSubject(url: string, identityToken: string, tls?: TransportOptions['tls']): Promise<string> {
  const transport = new HttpTransport({ tls, timeoutMs: 30_000 });
  let header: string | undefined;
  try {
    header = await new Authenticator(transport, new URL(url), { credentials: { identityToken } }).authorization([ANY_SCOPE]);
  } finally {
    transport.close();
  }
  if (!header?.startsWith('Bearer ')) throw new Error(`${url} did not answer with a token for the identity token`);
  return jwtSubject(header.slice(7));
}

function jwtSubject(jwt: string): string {
  const payload = jwt.split('.')[1] ?? '';
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    if (typeof claims.sub === 'string' && claims.sub !== '') return claims.sub;
  } catch {
    // fall through
  }
  throw new Error('the registry\'s token names no account');
}

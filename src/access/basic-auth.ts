// HTTP Basic authentication's two halves: the challenge a server sends and the credentials a client
// answers with (RFC 7617).

/** `Basic realm="…"`, the realm as an RFC 9110 quoted-string (no control characters, `"` and `\` escaped). */
export function basicChallenge(realm: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = realm.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&');
  return `Basic realm="${clean}"`;
}

/** The user and password of a `Basic` Authorization header, or null when it is something else. */
export function parseBasic(authorization: string): { user: string; password: string } | null {
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(authorization);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

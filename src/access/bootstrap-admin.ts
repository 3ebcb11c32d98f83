// The first start in builtin mode makes the system administrator `admin`, so there is someone to sign in
// as. Its password comes from WHARF_ADMIN_PASSWORD, or is made here and handed to `announce` once (the
// server prints it on stderr, outside the log); only its bcrypt hash is kept.
import { randomBytes } from 'node:crypto';
import { ACCOUNT_NAMES_LOCK, type MetaStore } from '../store/meta/meta-store.js';
import type { AccountSignIn } from './account-sign-in.js';

export const BOOTSTRAP_ADMIN = 'admin';

/** Creates `admin` when there is no account at all. True when it did. */
export async function ensureBootstrapAdmin(
  meta: MetaStore, signIn: AccountSignIn, password: string | undefined, announce: (user: string, password: string) => void,
): Promise<boolean> {
  if ((await meta.users.count()) > 0) return false;
  const chosen = password !== undefined && password !== '' ? password : randomBytes(18).toString('base64url');
  const hash = await signIn.hashPassword(chosen);
  // In one unit of work: of several processes starting on a new database, one makes the account.
  const made = await meta.tx(async (m) => {
    await m.lock(ACCOUNT_NAMES_LOCK);
    if ((await m.users.count()) > 0 || (await m.orgs.byName(BOOTSTRAP_ADMIN))) return false;
    await m.users.create(BOOTSTRAP_ADMIN, hash, true);
    return true;
  });
  if (made && password === undefined) announce(BOOTSTRAP_ADMIN, chosen);
  return made;
}

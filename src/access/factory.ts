// Builds the AccessController that `auth.mode` names, as Distribution's auth factory does.
import type { Config } from '../config/config.js';
import { systemClock, type Clock } from '../config/clock.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { AccessController } from './access-controller.js';
import { AccountSignIn, type ExternalPasswords } from './account-sign-in.js';
import { RegistryError } from '../oci/errors.js';
import { AllowAllAccessController } from './allow-all.js';
import { ensureBootstrapAdmin } from './bootstrap-admin.js';
import { BuiltinAccessController } from './builtin.js';
import { CertificateAccessController } from './certificate.js';
import { HtpasswdAccessController, type AccessLogger } from './htpasswd.js';
import { TokenKeys } from './token-keys.js';
import { TokenService } from './token-service.js';

export interface AccessDeps {
  logger: AccessLogger;
  meta: MetaStore;
  clock?: Clock;
  /** WHARF_ADMIN_PASSWORD: the first administrator's password (builtin mode, first start). */
  adminPassword?: string;
  /** Shows a password made at first start, once, outside the log. */
  announce?: (user: string, password: string) => void;
}

export async function accessControllerFor(auth: Config['auth'], deps: AccessDeps): Promise<AccessController> {
  switch (auth.mode) {
    case 'none':
      return new AllowAllAccessController();
    case 'htpasswd':
      // The schema guarantees the path when the mode is htpasswd.
      return HtpasswdAccessController.open({ path: auth.htpasswd.path!, realm: auth.htpasswd.realm, logger: deps.logger });
    case 'certificate':
      // The schema guarantees tls.clientCA: the TLS layer verifies the certificate, this names its holder.
      return new CertificateAccessController();
    case 'builtin': {
      const clock = deps.clock ?? systemClock;
      const b = auth.builtin;
      // An htpasswd file beside the accounts: its users sign in with the file's passwords.
      const file = auth.htpasswd.path === undefined ? null
        : await HtpasswdAccessController.open({ path: auth.htpasswd.path, realm: auth.htpasswd.realm, logger: deps.logger });
      const admins = new Set(auth.htpasswd.admins);
      const external: ExternalPasswords | undefined = file ? {
        verify: async (authorization, remote) => {
          try {
            await file.authenticate({ authorization, remoteAddress: remote, clientCertificate: null });
            return true;
          } catch (e) {
            if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') return false;
            throw e;
          }
        },
        has: (user) => file.has(user),
        isAdmin: (user) => admins.has(user),
      } : undefined;
      const signIn = new AccountSignIn(deps.meta, { clock, bcryptCost: b.bcryptCost, external });
      await ensureBootstrapAdmin(deps.meta, signIn, deps.adminPassword, deps.announce ?? (() => undefined));
      const keys = await TokenKeys.open(deps.meta, clock);
      const tokens = new TokenService(keys, { issuer: b.issuer, service: b.service, lifetimeS: Math.max(1, Math.round(b.tokenLifetime / 1000)), clock });
      return new BuiltinAccessController(deps.meta, signIn, tokens, { realm: b.realm ?? null, service: b.service, refreshTokenLifetimeMs: b.refreshTokenLifetime, close: async () => file?.close() }, keys, clock);
    }
  }
}

// Builds the AccessController that `auth.mode` names, as Distribution's auth factory does.
import type { Config } from '../config/config.js';
import type { AccessController } from './access-controller.js';
import { AllowAllAccessController } from './allow-all.js';
import { HtpasswdAccessController, type AccessLogger } from './htpasswd.js';

export async function accessControllerFor(auth: Config['auth'], logger: AccessLogger): Promise<AccessController> {
  switch (auth.mode) {
    case 'none':
      return new AllowAllAccessController();
    case 'htpasswd':
      // The schema guarantees the path when the mode is htpasswd.
      return HtpasswdAccessController.open({ path: auth.htpasswd.path!, realm: auth.htpasswd.realm, logger });
    case 'certificate':
      throw new Error('auth.mode certificate needs tls.clientCA');
  }
}

// Builds the AccessController that `auth.mode` names, as Distribution's auth factory does.
import type { Config } from '../config/config.js';
import type { AccessController } from './access-controller.js';
import { AllowAllAccessController } from './allow-all.js';
import { CertificateAccessController } from './certificate.js';
import { HtpasswdAccessController, type AccessLogger } from './htpasswd.js';

export async function accessControllerFor(auth: Config['auth'], logger: AccessLogger): Promise<AccessController> {
  switch (auth.mode) {
    case 'none':
      return new AllowAllAccessController();
    case 'htpasswd':
      // The schema guarantees the path when the mode is htpasswd.
      return HtpasswdAccessController.open({ path: auth.htpasswd.path!, realm: auth.htpasswd.realm, logger });
    case 'certificate':
      // The schema guarantees tls.clientCA: the TLS layer verifies the certificate, this names its holder.
      return new CertificateAccessController();
  }
}

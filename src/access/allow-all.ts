// auth.mode: none — the open registry: everyone may do everything, and nobody is asked who they are.
import { ANONYMOUS, type Access, type AccessController, type Identity } from './access-controller.js';

export class AllowAllAccessController implements AccessController {
  readonly kind = 'none';
  async reasksFor(): Promise<boolean> { return false; }
  readonly requiresIdentity = false;

  async authenticate(): Promise<Identity> {
    return ANONYMOUS;
  }

  async authorize(_identity: Identity, wanted: readonly Access[]): Promise<Access[]> {
    return [...wanted];
  }

  challenge(): string | null {
    return null;
  }

  async close(): Promise<void> {}
}

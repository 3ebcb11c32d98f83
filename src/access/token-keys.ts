// The token service's signing keys: ECDSA P-256 (ES256), kept in the MetaStore so that every process
// sharing the database signs and verifies with the same keys. The first start makes one. A rotation
// adds a key that signs from then on; the older keys keep verifying the tokens they signed until they
// are retired, so nobody is logged out by a rotation. The kid is the key's JWK thumbprint (RFC 7638).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { SigningKeyRecord, SigningKeyStore } from '../store/meta/account-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import { systemClock, type Clock } from '../config/clock.js';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  createdAt: number;
  supersededAt: number | null;
}

/** How often an unknown kid may send this process back to the database (another process rotated). */
const RELOAD_EVERY_MS = 5_000;
/**
 * The longest this process trusts its copy of the keys: a key another process rotated in starts
 * signing here, and one it retired stops verifying here, within this bound.
 */
export const KEYS_STALE_AFTER_MS = 60_000;

async function keyOf(r: SigningKeyRecord): Promise<SigningKey> {
  const privateKey = createPrivateKey(r.privateKeyPem);
  return { kid: r.kid, privateKey, publicKey: createPublicKey(privateKey), createdAt: r.createdAt, supersededAt: r.supersededAt };
}

export async function newKeyPem(): Promise<{ kid: string; pem: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256');
  return { kid, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string };
}

export class TokenKeys {
  private keys: SigningKey[] = [];
  private loadedAt = 0;
  private reloading: Promise<void> | null = null;

  private constructor(private readonly store: SigningKeyStore, private readonly clock: Clock) {}

  /** Loads the keys, making the first one when there is none (once, even with several processes starting). */
  static async open(meta: MetaStore, clock: Clock = systemClock): Promise<TokenKeys> {
    const k = new TokenKeys(meta.signingKeys, clock);
    const made = await newKeyPem();
    await meta.tx(async (m) => {
      await m.lock('signing-keys');
      if ((await m.signingKeys.current()).length === 0) await m.signingKeys.add(made.kid, made.pem);
    });
    await k.reload();
    return k;
  }

  /** The key that signs now (re-read when this process's copy is stale). */
  async signer(): Promise<SigningKey> {
    await this.fresh();
    return this.keys[0]!;
  }

  /** Every key that still verifies, the signer first. */
  all(): readonly SigningKey[] {
    return this.keys;
  }

  /** The verifying key with this kid; re-reads the database (rate-limited) when it is unknown here. */
  async verifier(kid: string): Promise<SigningKey | null> {
    await this.fresh();
    const known = this.keys.find((k) => k.kid === kid);
    if (known) return known;
    if (this.clock.now() - this.loadedAt >= RELOAD_EVERY_MS) await this.reload();
    return this.keys.find((k) => k.kid === kid) ?? null;
  }

  /** Adds a new signing key; the previous ones keep verifying. Returns its kid. */
  async rotate(): Promise<string> {
    const made = await newKeyPem();
    await this.store.add(made.kid, made.pem);
    await this.reload();
    return made.kid;
  }

  /** Stops trusting a superseded key (tokens it signed no longer verify). The signing key cannot be retired. */
  async retire(kid: string): Promise<boolean> {
    if ((await this.signer()).kid === kid) return false;
    const gone = await this.store.retire(kid);
    await this.reload();
    return gone;
  }

  private async fresh(): Promise<void> {
    if (this.clock.now() - this.loadedAt >= KEYS_STALE_AFTER_MS) await this.reload();
  }

  async reload(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        const records = await this.store.current();
        this.keys = await Promise.all(records.map(keyOf));
        this.loadedAt = this.clock.now();
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }
}

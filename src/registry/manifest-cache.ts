// A bounded LRU of manifest bytes by digest. Content-addressed, so an entry can never go stale,
// even with several replicas sharing one store.
export class ManifestCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: string): Buffer | undefined {
    const b = this.entries.get(digest);
    if (b) {
      // Move to the young end.
      this.entries.delete(digest);
      this.entries.set(digest, b);
    }
    return b;
  }

  set(digest: string, bytes: Buffer): void {
    if (bytes.length > this.maxBytes / 4 || this.entries.has(digest)) return;
    this.entries.set(digest, bytes);
    this.bytes += bytes.length;
    for (const [d, b] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(d);
      this.bytes -= b.length;
    }
  }

  delete(digest: string): void {
    const b = this.entries.get(digest);
    if (b) {
      this.entries.delete(digest);
      this.bytes -= b.length;
    }
  }
}

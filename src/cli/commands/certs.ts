// wharf certs generate: a development CA, a server certificate for the given names, optionally a client
// certificate; and how to make wharf serve, podman and skopeo use them.
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateDevCertificates } from '../../server/dev-certificates.js';

interface GenerateOptions {
  host: string[];
  ip: string[];
  out: string;
  days: string;
  client?: string;
  port: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('TLS certificates for development and tests');
  certs
    .command('generate')
    .description('write a development CA (ca.crt, ca.key) and a server certificate signed by it (server.crt, server.key)')
    .option('--host <name>', 'a DNS name of the server (repeatable)', collect, [])
    .option('--ip <addr>', 'an IP address of the server (repeatable)', collect, [])
    .requiredOption('--out <dir>', 'directory to write the files into')
    .option('--days <n>', 'validity in days', '365')
    .option('--client <name>', 'also a client certificate with this CN (client.cert, client.key)')
    .option('--port <port>', 'the port wharf serve listens on, for the printed instructions', '5000')
    .action(async (opts: GenerateOptions) => {
      const out = resolve(opts.out);
      const c = await generateDevCertificates({ hosts: opts.host, ips: opts.ip, days: Number(opts.days), client: opts.client });
      mkdirSync(out, { recursive: true });
      const write = (name: string, text: string, secret: boolean): void => {
        // Keys are created 0600 (no moment where another user could read them).
        writeFileSync(join(out, name), text, { mode: secret ? 0o600 : 0o644 });
      };
      write('ca.crt', c.ca.cert, false);
      write('ca.key', c.ca.key, true);
      write('server.crt', c.server.cert, false);
      write('server.key', c.server.key, true);
      if (c.client) {
        write('client.cert', c.client.cert, false);
        write('client.key', c.client.key, true);
      }
      const names = [...opts.host, ...opts.ip];
      const hostPorts = names.map((n) => `${n.includes(':') ? `[${n}]` : n}:${opts.port}`);
      const lines = [
        `Wrote to ${out}:`,
        `  ca.crt, ca.key          development CA (keep ca.key private)`,
        `  server.crt, server.key  server certificate for ${names.join(', ')}`,
        ...(c.client ? [`  client.cert, client.key client certificate for CN=${opts.client}`] : []),
        '',
        'Serve with it:',
        `  WHARF_TLS_CERT=${join(out, 'server.crt')} WHARF_TLS_KEY=${join(out, 'server.key')} wharf serve --addr 0.0.0.0:${opts.port}`,
        `  or in wharf.yaml: tls: { cert: ${join(out, 'server.crt')}, key: ${join(out, 'server.key')} }`,
        ...(c.client ? [`  client certificates: tls: { clientCA: ${join(out, 'ca.crt')}, clientAuth: require }`] : []),
        '',
        'Trust the CA in podman and skopeo (as root; per user: ~/.config/containers/certs.d):',
        ...hostPorts.map((hp) => `  mkdir -p /etc/containers/certs.d/${hp} && cp ${join(out, 'ca.crt')} /etc/containers/certs.d/${hp}/ca.crt`),
        ...(c.client ? ['  and, for client certificates, client.cert and client.key into the same directory'] : []),
        `or per command: --cert-dir DIR (skopeo: --src-cert-dir/--dest-cert-dir), DIR holding a copy of ca.crt`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
    });
}

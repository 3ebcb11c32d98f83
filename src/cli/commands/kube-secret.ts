// wharf auth kube-secret: a Kubernetes pull secret (type kubernetes.io/dockerconfigjson) from the login
// stored in auth.json, the same object `kubectl create secret docker-registry --dry-run=client -o yaml`
// (or `oc create secret docker-registry`) makes. Offline: nothing is sent anywhere.
import type { Command } from 'commander';
import { registryHost, storedLogin } from '../../client/admin-client.js';
import { UsageError, usageExitCodes } from './admin-common.js';

interface KubeSecretFlags { name?: string; namespace?: string; authfile?: string; format?: string }

/** RFC 1123 names: a Secret's name is a subdomain, a namespace a label. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** wharf- and the registry host, every run of non-alphanumerics a single '-'. */
export function defaultSecretName(registry: string): string {
  return `wharf-${registry.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')}`.slice(0, 253).replace(/-+$/, '');
}

/**
 * The .dockerconfigjson payload, byte for byte as kubectl's Go encoder writes it: fields in its order
 * (username, password, auth) and <, >, &, U+2028, U+2029 escaped.
 */
export function dockerConfigJson(registry: string, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
  return JSON.stringify({ auths: { [registry]: { username, password, auth } } })
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface Secret {
  kind: 'Secret';
  apiVersion: 'v1';
  metadata: { name: string; namespace?: string; creationTimestamp: null };
  data: { '.dockerconfigjson': string };
  type: 'kubernetes.io/dockerconfigjson';
}

/** YAML as kubectl prints it (keys sorted); every value here is a plain scalar (checked names, base64). */
function yamlOf(s: Secret): string {
  return [
    'apiVersion: v1',
    'data:',
    `  .dockerconfigjson: ${s.data['.dockerconfigjson']}`,
    'kind: Secret',
    'metadata:',
    '  creationTimestamp: null',
    `  name: ${s.metadata.name}`,
    ...(s.metadata.namespace === undefined ? [] : [`  namespace: ${s.metadata.namespace}`]),
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
}

export function registerAuth(program: Command): void {
  const auth = usageExitCodes(program.command('auth').description('credentials for other tools'));
  const cmd = auth.command('kube-secret').description('print a Kubernetes pull secret (kubernetes.io/dockerconfigjson) made from the stored login')
    .argument('<registry>', 'host[:port] you ran `wharf login` for')
    .option('--name <name>', 'the Secret\'s name (default: wharf-HOST with - for every other character)')
    .option('--namespace <namespace>', 'the Secret\'s namespace (default: none, i.e. the one kubectl uses)')
    .option('--authfile <file>', 'auth file (default: REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)')
    .option('--format <format>', 'yaml (default) or json');
  cmd.action(async (arg: string, f: KubeSecretFlags) => {
    try {
      const format = f.format ?? 'yaml';
      if (format !== 'yaml' && format !== 'json' && format !== 'text') throw new UsageError(`--format takes yaml or json, got ${format}`);
      const registry = registryHost(arg);
      if (!registry) throw new UsageError('a registry host[:port] is required');
      const name = f.name ?? defaultSecretName(registry);
      if (name.length > 253 || !SUBDOMAIN.test(name)) throw new UsageError(`--name ${JSON.stringify(name)} is not a valid Kubernetes name (lowercase letters, digits, '-' and '.')`);
      if (f.namespace !== undefined && (f.namespace.length > 63 || !LABEL.test(f.namespace))) {
        throw new UsageError(`--namespace ${JSON.stringify(f.namespace)} is not a valid Kubernetes namespace`);
      }
      const { username, password } = await storedLogin(registry, f.authfile);
      const secret: Secret = {
        kind: 'Secret',
        apiVersion: 'v1',
        metadata: { name, ...(f.namespace === undefined ? {} : { namespace: f.namespace }), creationTimestamp: null },
        data: { '.dockerconfigjson': Buffer.from(dockerConfigJson(registry, username, password), 'utf8').toString('base64') },
        type: 'kubernetes.io/dockerconfigjson',
      };
      process.stdout.write(format === 'json' ? `${JSON.stringify(secret, null, 4)}\n` : yamlOf(secret));
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`wharf: ${e.message}\n`);
      process.exitCode = 2;
    }
  });
}

// Our kubeconfig loader (src/kube/config.ts) on files in temporary directories: context resolution, every
// credential form it supports, kubectl-style merging, in-cluster credentials and the error messages.
// exec users run a stub plugin written here (a shell script).
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { fromFiles, inCluster, loadKubeConfig } from '../../src/kube/config.ts';

const dirs = tempDirs();
const tmp = (): string => dirs.make('tio-kubeconfig-');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Writes a kubeconfig (an object, as JSON, which is YAML; or raw text) and returns its path. */
function write(dir: string, name: string, content: object | string): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

interface Parts {
  current?: string;
  clusters?: Record<string, Record<string, unknown>>;
  users?: Record<string, Record<string, unknown>>;
  contexts?: Record<string, Record<string, unknown>>;
}
/** A kubeconfig from name -> body maps, in the list-of-named-entries shape kubeconfigs use. */
function cfg(p: Parts): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Config',
    ...(p.current !== undefined ? { 'current-context': p.current } : {}),
    clusters: Object.entries(p.clusters ?? {}).map(([name, cluster]) => ({ name, cluster })),
    users: Object.entries(p.users ?? {}).map(([name, user]) => ({ name, user })),
    contexts: Object.entries(p.contexts ?? {}).map(([name, context]) => ({ name, context })),
  };
}

/** One cluster, one user, one context using both: the common case, with the parts overridable. */
function single(cluster: Record<string, unknown>, user?: Record<string, unknown>, context: Record<string, unknown> = {}): Record<string, unknown> {
  return cfg({
    current: 'ctx',
    clusters: { c: { server: 'https://api.example.test:6443', ...cluster } },
    users: user ? { u: user } : {},
    contexts: { ctx: { cluster: 'c', ...(user ? { user: 'u' } : {}), ...context } },
  });
}

const load = (content: object | string): ReturnType<typeof fromFiles> => fromFiles([write(tmp(), 'config', content)]);

describe('context resolution', () => {
  const twoContexts = cfg({
    current: 'b',
    clusters: { ca: { server: 'https://a.example.test:6443' }, cb: { server: 'https://b.example.test:7443' } },
    users: { ua: { token: 'token-a' }, ub: { token: 'token-b' } },
    contexts: { a: { cluster: 'ca', user: 'ua', namespace: 'ns-a' }, b: { cluster: 'cb', user: 'ub', namespace: 'ns-b' } },
  });

  it('uses the cluster, user and namespace of the current context, not of the others', async () => {
    const access = load(twoContexts);
    expect(access.server.href).toBe('https://b.example.test:7443/');
    expect(access.namespace).toBe('ns-b');
    await expect(access.authorization()).resolves.toBe('Bearer token-b');
  });

  it('follows current-context when it names the other context', async () => {
    const access = load({ ...twoContexts, 'current-context': 'a' });
    expect(access.server.href).toBe('https://a.example.test:6443/');
    expect(access.namespace).toBe('ns-a');
    await expect(access.authorization()).resolves.toBe('Bearer token-a');
  });

  it('resolves names independently of the order of the entries', async () => {
    const c = cfg({
      current: 'z',
      clusters: { y: { server: 'https://y.example.test' }, x: { server: 'https://x.example.test' } },
      users: { q: { token: 'q' }, p: { token: 'p' } },
      contexts: { z: { cluster: 'x', user: 'p' }, w: { cluster: 'y', user: 'q' } },
    });
    const access = load(c);
    expect(access.server.hostname).toBe('x.example.test');
    await expect(access.authorization()).resolves.toBe('Bearer p');
  });

  it('has no namespace when the context names none, and no Authorization without a user', async () => {
    const access = load(single({}));
    expect(access.namespace).toBeUndefined();
    await expect(access.authorization()).resolves.toBeUndefined();
    expect(access.tls).toEqual({ rejectUnauthorized: true, ca: undefined, cert: undefined, key: undefined, servername: undefined });
  });

  it('names the file it loaded as the source', () => {
    const file = write(tmp(), 'config', single({}));
    expect(fromFiles([file]).source).toBe(resolve(file));
  });

  it('reads YAML, not only JSON', async () => {
    const access = load([
      'apiVersion: v1',
      'kind: Config',
      'current-context: dev',
      'clusters:',
      '- name: local',
      '  cluster:',
      '    server: https://127.0.0.1:16443',
      'users:',
      '- name: me',
      '  user:',
      '    token: yaml-token',
      'contexts:',
      '- name: dev',
      '  context: {cluster: local, user: me, namespace: team}',
      '',
    ].join('\n'));
    expect(access.server.port).toBe('16443');
    expect(access.namespace).toBe('team');
    await expect(access.authorization()).resolves.toBe('Bearer yaml-token');
  });
});

describe('errors in the context chain name what is missing', () => {
  it('no current-context', () => {
    const c = single({});
    delete c['current-context'];
    expect(() => load(c)).toThrow(/no current-context/);
  });

  it('a file that holds YAML null has no current-context', () => {
    expect(() => load('~\n')).toThrow(/no current-context/);
  });

  // client-go (clientcmd.Load) takes an empty file as an empty config, so `touch`ed or comment-only files
  // in $KUBECONFIG do not break kubectl; readConfig's `raw ?? {}` means the same, but js-yaml 5 throws on
  // an empty document before that line is reached.
  it('an empty or comment-only file is an empty config: alone it has no current-context, in a merge it adds nothing', () => {
    expect(() => load('')).toThrow(/no current-context/);
    const dir = tmp();
    const empty = write(dir, 'empty', '# nothing here yet\n');
    const good = write(dir, 'good', single({}, { token: 't' }));
    expect(fromFiles([empty, good]).server.hostname).toBe('api.example.test');
  });

  it('a current-context that is not defined', () => {
    expect(() => load({ ...single({}), 'current-context': 'nope' })).toThrow(/current-context "nope" is not defined/);
  });

  it('a context whose cluster is not defined', () => {
    const c = cfg({ current: 'ctx', clusters: { other: { server: 'https://x' } }, contexts: { ctx: { cluster: 'missing-cluster' } } });
    expect(() => load(c)).toThrow(/cluster "missing-cluster" of context "ctx" is not defined/);
  });

  it('a context whose user is not defined', () => {
    const c = cfg({ current: 'ctx', clusters: { c: { server: 'https://x' } }, users: { other: { token: 't' } }, contexts: { ctx: { cluster: 'c', user: 'missing-user' } } });
    expect(() => load(c)).toThrow(/user "missing-user" of context "ctx" is not defined/);
  });

  it('a server that is not a URL', () => {
    expect(() => load(single({ server: 'not a url' }))).toThrow(/cluster "c": server "not a url" is not a URL/);
  });
});

describe('file-level errors', () => {
  it('invalid YAML names the file', () => {
    const file = write(tmp(), 'broken.yaml', 'clusters: [\n  - {name: a\n');
    expect(() => fromFiles([file])).toThrow(new RegExp(`kubeconfig ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML`));
  });

  it('a schema violation names the field path', () => {
    const c = single({});
    (c.clusters as { cluster: Record<string, unknown> }[])[0]!.cluster.server = 6443;
    const file = write(tmp(), 'config', c);
    expect(() => fromFiles([file])).toThrow(file);
    expect(() => fromFiles([file])).toThrow(/clusters\.0\.cluster\.server/);
  });

  it('a schema violation in a user names its path too', () => {
    expect(() => load(single({}, { token: 42 }))).toThrow(/users\.0\.user\.token/);
  });

  it('loadKubeConfig on a path that does not exist says so', () => {
    expect(() => loadKubeConfig('/nonexistent')).toThrow('kubeconfig /nonexistent does not exist');
  });

  it('loadKubeConfig on an existing path loads that file', async () => {
    const file = write(tmp(), 'config', single({}, { token: 'explicit' }));
    const access = loadKubeConfig(file);
    expect(access.source).toBe(resolve(file));
    await expect(access.authorization()).resolves.toBe('Bearer explicit');
  });
});

describe('certificate authority and TLS settings', () => {
  it('certificate-authority-data is decoded from base64', () => {
    const access = load(single({ 'certificate-authority-data': b64('-----BEGIN CERTIFICATE-----\nCA-DATA\n') }));
    expect(access.tls.ca?.toString()).toBe('-----BEGIN CERTIFICATE-----\nCA-DATA\n');
    expect(access.tls.rejectUnauthorized).toBe(true);
  });

  it('certificate-authority-data that is not base64 is an error naming the field', () => {
    expect(() => load(single({ 'certificate-authority-data': 'not*base64!' }))).toThrow(/certificate-authority-data is not base64/);
  });

  it('a relative certificate-authority is read relative to the kubeconfig\'s directory, not the working directory', () => {
    const dir = tmp();
    write(dir, 'kube/certs/ca.crt', 'CA FROM FILE');
    write(dir, 'certs/ca.crt', 'WRONG CA (sibling of the parent)');
    const file = write(dir, 'kube/config', single({ 'certificate-authority': 'certs/ca.crt' }));
    expect(process.cwd()).not.toBe(join(dir, 'kube'));
    expect(fromFiles([file]).tls.ca?.toString()).toBe('CA FROM FILE');
  });

  it('an absolute certificate-authority path is used as is', () => {
    const dir = tmp();
    const ca = write(dir, 'elsewhere/ca.pem', 'ABSOLUTE CA');
    const file = write(dir, 'kube/config', single({ 'certificate-authority': ca }));
    expect(fromFiles([file]).tls.ca?.toString()).toBe('ABSOLUTE CA');
  });

  it('a certificate-authority file that does not exist is an error', () => {
    expect(() => load(single({ 'certificate-authority': 'missing/ca.crt' }))).toThrow(/ENOENT/);
  });

  it('insecure-skip-tls-verify: true turns verification off; false or absent keeps it on', () => {
    expect(load(single({ 'insecure-skip-tls-verify': true })).tls.rejectUnauthorized).toBe(false);
    expect(load(single({ 'insecure-skip-tls-verify': false })).tls.rejectUnauthorized).toBe(true);
    expect(load(single({})).tls.rejectUnauthorized).toBe(true);
  });

  it('tls-server-name becomes the TLS servername', () => {
    expect(load(single({ 'tls-server-name': 'kubernetes.default.svc' })).tls.servername).toBe('kubernetes.default.svc');
    expect(load(single({})).tls.servername).toBeUndefined();
  });

  it('proxy-url is rejected with a message that names the cluster and the field', () => {
    const file = write(tmp(), 'config', single({ 'proxy-url': 'http://proxy.example.test:3128' }));
    expect(() => fromFiles([file])).toThrow(`kubeconfig ${resolve(file)}: cluster "c": proxy-url is not supported; connect directly`);
  });
});

describe('client certificates', () => {
  it('client-certificate-data and client-key-data are decoded', async () => {
    const access = load(single({}, { 'client-certificate-data': b64('CERT PEM'), 'client-key-data': b64('KEY PEM') }));
    expect(access.tls.cert?.toString()).toBe('CERT PEM');
    expect(access.tls.key?.toString()).toBe('KEY PEM');
    await expect(access.authorization()).resolves.toBeUndefined();
  });

  it('client-certificate and client-key paths are relative to the kubeconfig\'s directory', () => {
    const dir = tmp();
    write(dir, 'kube/pki/me.crt', 'CERT FROM FILE');
    write(dir, 'kube/pki/me.key', 'KEY FROM FILE');
    const file = write(dir, 'kube/config', single({}, { 'client-certificate': 'pki/me.crt', 'client-key': 'pki/me.key' }));
    const access = fromFiles([file]);
    expect(access.tls.cert?.toString()).toBe('CERT FROM FILE');
    expect(access.tls.key?.toString()).toBe('KEY FROM FILE');
  });

  it('mixes a data certificate with a key file', () => {
    const dir = tmp();
    write(dir, 'me.key', 'KEY FILE');
    const file = write(dir, 'config', single({}, { 'client-certificate-data': b64('CERT DATA'), 'client-key': 'me.key' }));
    const access = fromFiles([file]);
    expect(access.tls.cert?.toString()).toBe('CERT DATA');
    expect(access.tls.key?.toString()).toBe('KEY FILE');
  });

  it('a certificate without a key is an error naming the user', () => {
    expect(() => load(single({}, { 'client-certificate-data': b64('CERT') }))).toThrow(/user "u" has a client certificate without a key/);
  });

  it('a key without a certificate is an error naming the user', () => {
    expect(() => load(single({}, { 'client-key-data': b64('KEY') }))).toThrow(/user "u" has a client certificate without a key, or a key without a certificate/);
  });

  it('a client certificate does not disable server verification or set a CA', () => {
    const access = load(single({}, { 'client-certificate-data': b64('C'), 'client-key-data': b64('K') }));
    expect(access.tls.rejectUnauthorized).toBe(true);
    expect(access.tls.ca).toBeUndefined();
  });
});

describe('tokens and basic auth', () => {
  it('a token becomes a Bearer header, the same on every call', async () => {
    const access = load(single({}, { token: 'abc.def.ghi' }));
    await expect(access.authorization()).resolves.toBe('Bearer abc.def.ghi');
    await expect(access.authorization()).resolves.toBe('Bearer abc.def.ghi');
  });

  it('a tokenFile (relative to the kubeconfig) is read, trimmed, and re-read when it changes', async () => {
    const dir = tmp();
    const tokenFile = write(dir, 'kube/tokens/sa', 'first-token\n');
    utimesSync(tokenFile, 1_700_000_000, 1_700_000_000);
    const file = write(dir, 'kube/config', single({}, { tokenFile: 'tokens/sa' }));
    const access = fromFiles([file]);
    await expect(access.authorization()).resolves.toBe('Bearer first-token');

    writeFileSync(tokenFile, 'second-token\n');
    utimesSync(tokenFile, 1_700_000_100, 1_700_000_100);
    await expect(access.authorization()).resolves.toBe('Bearer second-token');
    // unchanged file: the same value again
    await expect(access.authorization()).resolves.toBe('Bearer second-token');
  });

  it('a tokenFile that does not exist fails the request that needs it, naming the file', async () => {
    const access = load(single({}, { tokenFile: '/nonexistent/tio-token' }));
    // Awaited inside an async function so the assertion holds whether the failure is thrown or rejected.
    await expect((async () => access.authorization())()).rejects.toThrow(/ENOENT.*\/nonexistent\/tio-token/);
  });

  it('a readable tokenFile wins over a token (as in client-go); the token is used while the file cannot be read', async () => {
    await expect(load(single({}, { token: 'inline', tokenFile: '/nonexistent/file' })).authorization()).resolves.toBe('Bearer inline');
    const file = join(dirs.make('tio-tok-'), 'token');
    writeFileSync(file, 'from-file\n');
    await expect(load(single({}, { token: 'inline', tokenFile: file })).authorization()).resolves.toBe('Bearer from-file');
  });

  it('username and password become a Basic header', async () => {
    const access = load(single({}, { username: 'admin', password: 's3cr:et' }));
    await expect(access.authorization()).resolves.toBe(`Basic ${b64('admin:s3cr:et')}`);
  });

  it('a username without a password sends an empty password', async () => {
    await expect(load(single({}, { username: 'admin' })).authorization()).resolves.toBe(`Basic ${b64('admin:')}`);
  });

  it('a user with exec credentials loads without running anything', () => {
    const access = load(single({ 'certificate-authority-data': b64('CA') }, {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/nonexistent/credential-plugin', args: ['token'] },
    }));
    expect(access.server.href).toBe('https://api.example.test:6443/');
    expect(access.tls.ca?.toString()).toBe('CA');
    expect(typeof access.authorization).toBe('function');
  });
});

describe('exec credentials', () => {
  it('callers at the same moment share one plugin run; a refresh after a 401 runs it again', async () => {
    const dir = tmp();
    const runs = join(dir, 'runs');
    const token = write(dir, 'token', 'first');
    // A plugin that counts its runs, takes a while, and issues whatever token the file holds (no expiry).
    const plugin = write(dir, 'plugin.sh', `#!/bin/sh\necho run >> '${runs}'\nsleep 0.2\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat '${token}')"\n`);
    chmodSync(plugin, 0o755);
    const access = load(single({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } }));
    const runCount = (): number => readFileSync(runs, 'utf8').trim().split('\n').length;
    expect(new Set(await Promise.all(Array.from({ length: 8 }, () => access.authorization())))).toEqual(new Set(['Bearer first']));
    expect(runCount()).toBe(1);
    // Cached (no expiry): the plugin is not run again, even when it would issue another token.
    writeFileSync(token, 'second');
    await expect(access.authorization()).resolves.toBe('Bearer first');
    expect(runCount()).toBe(1);
    access.refreshAuthorization?.();
    await expect(access.authorization()).resolves.toBe('Bearer second');
    expect(runCount()).toBe(2);
  });
});

describe('merging several files (KUBECONFIG)', () => {
  it('the first file to define a name wins; current-context comes from the first file that sets it', async () => {
    const dir = tmp();
    write(dir, 'a/ca.crt', 'CA OF A');
    write(dir, 'b/ca.crt', 'CA OF B');
    const a = write(dir, 'a/config', cfg({
      current: 'ctx',
      clusters: { shared: { server: 'https://from-a.example.test', 'certificate-authority': 'ca.crt' } },
    }));
    const b = write(dir, 'b/config', cfg({
      current: 'other',
      clusters: { shared: { server: 'https://from-b.example.test', 'certificate-authority': 'ca.crt' }, own: { server: 'https://own-b.example.test' } },
      users: { me: { token: 'token-from-b' } },
      contexts: { ctx: { cluster: 'shared', user: 'me', namespace: 'from-b' }, other: { cluster: 'own' } },
    }));
    const access = fromFiles([a, b]);
    expect(access.server.hostname).toBe('from-a.example.test'); // a defines "shared" first
    expect(access.tls.ca?.toString()).toBe('CA OF A'); // relative to a's directory, where "shared" came from
    expect(access.namespace).toBe('from-b'); // the context is only in b
    await expect(access.authorization()).resolves.toBe('Bearer token-from-b');
    expect(access.source).toBe([resolve(a), resolve(b)].join(delimiter));

    // The other order: b's current-context and b's definition of "shared".
    const reversed = fromFiles([b, a]);
    expect(reversed.server.hostname).toBe('own-b.example.test');
    expect(reversed.namespace).toBeUndefined();
  });

  it('a file without current-context defers to a later one that sets it', () => {
    const dir = tmp();
    const first = write(dir, 'first', cfg({ clusters: { c: { server: 'https://first.example.test' } }, contexts: { later: { cluster: 'c' } } }));
    const second = write(dir, 'second', cfg({ current: 'later', clusters: { c: { server: 'https://second.example.test' } } }));
    expect(fromFiles([first, second]).server.hostname).toBe('first.example.test');
  });

  it('a user defined in both files comes from the first, with its paths relative to that file', async () => {
    const dir = tmp();
    write(dir, 'one/token', 'token-one');
    write(dir, 'two/token', 'token-two');
    const one = write(dir, 'one/config', cfg({ current: 'ctx', users: { me: { tokenFile: 'token' } } }));
    const two = write(dir, 'two/config', cfg({
      clusters: { c: { server: 'https://x.example.test' } }, users: { me: { tokenFile: 'token' } }, contexts: { ctx: { cluster: 'c', user: 'me' } },
    }));
    await expect(fromFiles([one, two]).authorization()).resolves.toBe('Bearer token-one');
    await expect(fromFiles([two, one]).authorization()).resolves.toBe('Bearer token-two');
  });

  it('an error in any of the files fails the merge and names that file', () => {
    const dir = tmp();
    const good = write(dir, 'good', single({}));
    const bad = write(dir, 'bad', cfg({ current: 'x', clusters: { c: { server: false } } }));
    expect(() => fromFiles([good, bad])).toThrow(new RegExp(`${bad}: clusters\\.0\\.cluster\\.server`));
  });

  it('a name defined in no file is still an error naming it', () => {
    const dir = tmp();
    const a = write(dir, 'a', cfg({ current: 'ctx', contexts: { ctx: { cluster: 'nowhere' } } }));
    const b = write(dir, 'b', cfg({ clusters: { somewhere: { server: 'https://x' } } }));
    expect(() => fromFiles([a, b])).toThrow(/cluster "nowhere" of context "ctx" is not defined/);
  });
});

describe('in-cluster credentials', () => {
  function serviceAccountDir(files: Record<string, string> = { token: 'sa-token\n', 'ca.crt': 'CLUSTER CA', namespace: 'tenant-isolation-system\n' }): string {
    const dir = tmp();
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  }

  it('reads the token, CA and namespace and builds the server URL from the service env', async () => {
    const dir = serviceAccountDir();
    const access = inCluster(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '6443' });
    expect(access.source).toBe('in-cluster');
    expect(access.server.href).toBe('https://10.96.0.1:6443/');
    expect(access.tls.ca?.toString()).toBe('CLUSTER CA');
    expect(access.tls.rejectUnauthorized).toBe(true);
    expect(access.tls.cert).toBeUndefined();
    expect(access.namespace).toBe('tenant-isolation-system');
    await expect(access.authorization()).resolves.toBe('Bearer sa-token');
  });

  it('defaults the port to 443', () => {
    const access = inCluster(serviceAccountDir(), { KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc' });
    expect(access.server.hostname).toBe('kubernetes.default.svc');
    expect(access.server.protocol).toBe('https:');
    expect(access.server.port).toBe(''); // 443 is https's default
  });

  it('puts an IPv6 host in brackets', () => {
    const access = inCluster(serviceAccountDir(), { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' });
    expect(access.server.hostname).toBe('[fd00:10:96::1]');
    expect(access.server.href).toBe('https://[fd00:10:96::1]/');
    const withPort = inCluster(serviceAccountDir(), { KUBERNETES_SERVICE_HOST: '::1', KUBERNETES_SERVICE_PORT: '6443' });
    expect(withPort.server.href).toBe('https://[::1]:6443/');
  });

  it('re-reads the token when the kubelet rotates it', async () => {
    const dir = serviceAccountDir();
    utimesSync(join(dir, 'token'), 1_700_000_000, 1_700_000_000);
    const access = inCluster(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    await expect(access.authorization()).resolves.toBe('Bearer sa-token');
    writeFileSync(join(dir, 'token'), 'rotated-token\n');
    utimesSync(join(dir, 'token'), 1_700_003_600, 1_700_003_600);
    await expect(access.authorization()).resolves.toBe('Bearer rotated-token');
  });

  it('has no namespace when the namespace file is absent', () => {
    const access = inCluster(serviceAccountDir({ token: 't', 'ca.crt': 'CA' }), { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    expect(access.namespace).toBeUndefined();
  });

  it('fails when KUBERNETES_SERVICE_HOST is not set, whatever the files', () => {
    expect(() => inCluster(serviceAccountDir(), {})).toThrow('in-cluster: KUBERNETES_SERVICE_HOST is not set');
    expect(() => inCluster(serviceAccountDir(), { KUBERNETES_SERVICE_PORT: '443' })).toThrow(/KUBERNETES_SERVICE_HOST is not set/);
  });

  it('fails when the CA bundle is missing', () => {
    expect(() => inCluster(serviceAccountDir({ token: 't' }), { KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toThrow(/ENOENT.*ca\.crt/);
  });
});

describe('what the loader refuses rather than ignores', () => {
  it('impersonation (as / as-groups / as-uid) names the user', () => {
    expect(() => load(single({}, { token: 't', as: 'admin' }))).toThrow(/user "u": impersonation/);
    expect(() => load(single({}, { token: 't', 'as-groups': ['system:masters'] }))).toThrow(/impersonation/);
  });

  it('$KUBECONFIG whose files do not exist is an error naming them, not a silent fallback', () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = ['/nonexistent/a', '/nonexistent/b'].join(delimiter);
    try { expect(() => loadKubeConfig()).toThrow(/\/nonexistent\/a/); } finally { if (saved === undefined) delete process.env.KUBECONFIG; else process.env.KUBECONFIG = saved; }
  });
});

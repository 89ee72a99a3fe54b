// The dataplane scripts fail fast with a message naming the cause (no root needed for these cases).
import { describe, expect, it } from 'vitest';
import { script } from '../harness/run.ts';
import { tempDirs } from '../harness/tmp.ts';

const tmp = tempDirs();

describe('hack/dataplane.sh and build-dataplane.sh on bad input', () => {
  it('rejects unknown arguments and commands', async () => {
    const r = await script('hack/dataplane.sh', ['up', '--bogus'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown argument '--bogus'");
    const u = await script('hack/dataplane.sh', ['sideways'], {});
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('usage:');
  });

  it('needs --dir, and up needs a readable --kubeconfig', async () => {
    const r = await script('hack/dataplane.sh', ['up'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--dir is required');
    const dir = tmp.make('tio-dp-args-');
    const k = await script('hack/dataplane.sh', ['up', '--dir', dir], {});
    expect(k.code).toBe(1);
    expect(k.stderr).toContain('up needs --kubeconfig');
    const nf = await script('hack/dataplane.sh', ['up', '--dir', dir, '--kubeconfig', `${dir}/nope`], {});
    expect(nf.stderr).toContain(`--kubeconfig ${dir}/nope is not readable`);
  });

  it('pod-add checks its id and that the dataplane is up', async () => {
    const dir = tmp.make('tio-dp-pod-');
    const bad = await script('hack/dataplane.sh', ['pod-add', '--dir', dir, '--id', 'Bad_Id', '--ip', '10.244.1.1'], {});
    expect(bad.stderr).toContain("--id must be 1-8 characters of [a-z0-9], not 'Bad_Id'");
    const down = await script('hack/dataplane.sh', ['pod-add', '--dir', dir, '--id', 'a', '--ip', '10.244.1.1'], {});
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`the dataplane in ${dir} is not up`);
  });

  it('status and down of a directory that never ran say so and change nothing', async () => {
    const dir = tmp.make('tio-dp-none-');
    const s = await script('hack/dataplane.sh', ['status', '--dir', dir], {});
    expect(s.stdout).toContain('kube-router: stopped');
    expect(s.stdout).toContain('network namespaces: 0');
    const d = await script('hack/dataplane.sh', ['down', '--dir', dir], {});
    expect(d.code).toBe(0);
  });

  it('build-dataplane.sh without a Go toolchain says so', async () => {
    const r = await script('hack/build-dataplane.sh', [], { env: { PATH: '/usr/bin:/bin', TIO_CACHE_DIR: tmp.make('tio-dp-nogo-') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the Go toolchain (go) is not on PATH');
  });
});

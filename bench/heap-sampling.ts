// Loaded into the operator process by bench/lib.ts (node --import) when TIO_BENCH_OPERATOR_HEAP_PROFILE_DIR
// is set: V8's sampling heap profiler, keeping the objects garbage collection has already freed, so the
// profile says who allocates (what garbage collection has to clean up), not only who holds memory now.
// Written as heap-<pid>.heapprofile when the process ends (SIGTERM from the benchmark included); read it
// with bench/profile-summary.ts or Chrome DevTools.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.TIO_BENCH_OPERATOR_HEAP_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  let written = false;
  const write = (): void => {
    if (written) return;
    written = true;
    // An in-process session answers synchronously: the file is written before the process goes on.
    session.post('HeapProfiler.stopSampling', (err, r) => { if (!err) writeFileSync(join(dir, `heap-${process.pid}.heapprofile`), JSON.stringify(r.profile)); });
  };
  process.on('SIGTERM', write);
  process.on('exit', write);
}

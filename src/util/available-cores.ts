/**
 * How many CPU cores this process may really use, for thread counts (inference threads, libtensorflow's pools).
 */
import * as fs from 'fs';
import * as os from 'os';

/**
 * CPU cores this process may use: the affinity mask (`os.availableParallelism`), lowered by a cgroup v2 CPU
 * quota (`docker run --cpus`, Kubernetes limits), which the affinity mask does not show.
 */
export function availableCores(): number {
  let cores = os.availableParallelism();
  try {
    const [quota, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota !== 'max' && Number(period) > 0)
      cores = Math.min(cores, Math.ceil(Number(quota) / Number(period)));
  } catch {
    // no cgroup v2 CPU controller (not Linux, or cgroup v1): the affinity mask is all we know
  }
  return Math.max(1, cores);
}

/** Every built-in workload on a small heap, for checks that do not depend on its size. */
export const SMALL_WORKLOADS: Readonly<Record<string, Record<string, unknown>>> = {
  'hot-cold': { heap: '4M', hotSet: '256K' },
  thp: { heap: '4M', hotSet: '256K' },
  'fork-cow': { heap: '4M', hotSet: '256K' },
  swap: { heap: '4M', hotSet: '256K', pageoutPages: '1M', pageoutEvery: 2000 },
  idle: { heap: '2M' },
  sequential: { heap: '4M' },
  uniform: { heap: '4M' },
  churn: { bufferSize: '128K' },
  guest: { memory: '4M', dirtyRate: '256K/s', wss: '1M', vcpus: 2, coldFraction: 0.1 },
  curve: { memory: '4M', pages1: 64, writeRate1: 500, pages2: 512, writeRate2: 5 },
};

/**
 * soft-dirty-tracker as a library: the functions behind every `tracker` command, their options
 * and reports, the error classes with their exit codes. The command line (src/cli) is a thin shell
 * over exactly these; nothing here touches `process`, the terminal or the environment.
 */

// tracker dump --iterative, pre-dump, dump --prev-images-dir
export { iterativeDump, interruptedMessage, CRASH_POINTS, DEFAULT_DUMP_OPTIONS, type CancelSignal, type DumpReport, type IterativeDumpOptions } from './migrate/iterative.js';
export { primitiveDump, type PrimitiveDumpOptions, type PrimitiveDumpReport } from './migrate/primitive.js';
// The images directory: its lock and what --force may remove
export { assertNotLocked, foreignEntry, LOCK_FILE, lockImagesDir, ownerAlive, prepareImagesRoot, selfOwner, type ImagesRoot, type LockOwner } from './criu/images-dir.js';
// tracker restore, tracker check (the one chain reader)
export { restore, type RestoreOptions, type RestoreReport } from './migrate/resume.js';
export { checkChain, checkReport, openChain, type Chain, type ChainLink, type CheckReport } from './criu/page-read.js';
// tracker show, stats, compare
export { showImageFile, showIteration, showMems, showPages, showRss, type MemsView, type PageSpec, type PagesView, type RssView, type ShownImage, type ShownIteration } from './criu/show.js';
export { chainStats, type ChainStats } from './criu/stats.js';
export { checkThresholds, compare, type CompareResult, type Thresholds } from './criu/compare.js';
export { IMAGE_FILES, IMAGE_VERSION } from './criu/image.js';
export type { InventoryEntry, IterationStats, PagemapEntry } from './criu/schema.js';
// tracker run, workloads
export { canonicalSpec, createWorkload, DEFAULT_WORKLOAD, listWorkloads, resumeWorkload, workloadMemoryNeed, type WorkloadListing, type WorkloadProcess } from './workload/index.js';
export { fitCurve, curvePages, type CurveWindow, type PageClass } from './workload/curve-fit.js';
export { runMeasured, type RunOptions, type RunReport } from './migrate/run.js';
// tracker script
export { parseOps, OpsSyntaxError, type Op } from './ops/ops-parser.js';
export { runOps, type Observation } from './ops/ops-executor.js';
// The emulated machine
export { Kernel, DEFAULT_MEMORY_BYTES, type KernelOptions } from './mm/kernel.js';
export { MEMORY_MODELS, type MemoryModel } from './mm/page-alloc.js';
export { DEFAULT_KERNEL, isKernelProfileName, KERNEL_PROFILES, type KernelProfileName } from './mm/kernel-profile.js';
// Convergence policies and tracker plan (virtual time), the HTML report
export { decide, POLICIES, DEFAULT_MAX_ITERS, type PolicyName, type PolicyOptions, type Decision } from './migrate/policy.js';
export { runPlan, planReportInput, type PlanOptions, type PlanOutcome, type PlanRow } from './migrate/plan.js';
// Sweeps over machines (plan --shard, plan merge); what a guest costs before it runs
export { decodeShard, encodeShard, mergePlanShards, parseShard, runPlanShard, type PlanShardBlob, type Shard } from './migrate/plan-shard.js';
export { checkFits, estimateRss } from './migrate/capacity.js';
export { renderReport, type ReportInput } from './migrate/report.js';
// tracker page-server, dump --page-server, --compress, --auto-dedup, tracker dedup
export { startPageServer, type PageServer, type PageServerOptions } from './criu/page-server.js';
export { PageServerLink, type PageServerTarget } from './criu/page-xfer-remote.js';
export { openLocalXfer, type PageXfer } from './criu/page-xfer.js';
export { openCountingXfer, type CountedIteration, type CountingXfer } from './criu/page-xfer-count.js';
export { compressedSize, DEFAULT_COMPRESS_REGION } from './criu/page-compress.js';
export { dedupChain, type DedupReport } from './criu/dedup.js';
export { linkBytes } from './criu/stats.js';
// Errors and exit codes
export * from './errors.js';

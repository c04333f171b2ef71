/**
 * The task's syscall facade: mmap's MAP_* flags become the kernel's mapping kinds, the other calls
 * reach the kernel unchanged, and writes into its own memory fault pages in as stores do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VM_ACCOUNT, VM_HUGEPAGE, VM_SHARED, VM_WRITE } from '../../src/mm/vma.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, TaskSyscalls } from '../../src/task/syscalls.js';

const RW = PROT_READ | PROT_WRITE;
const EINVAL = 22;

function spawn(): TaskSyscalls {
  return TaskSyscalls.spawn('t', { memoryBytes: 64 << 20 });
}

test('mmap flags: private anonymous, shared anonymous, private file; MAP_NORESERVE leaves the VMA uncharged', () => {
  const sys = spawn();
  const anon = sys.mmap({ pages: 4, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  const shared = sys.mmap({ pages: 4, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS });
  const file = sys.mmap({ pages: 4, prot: PROT_READ, flags: MAP_PRIVATE, file: sys.openFile('/tmp/f', 4) });
  const noreserve = sys.mmap({ pages: 4, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE });
  const vma = (vpn: number) => sys.task.mm.findVma(vpn)!;
  assert.deepEqual([vma(anon).kind, vma(shared).kind, vma(file).kind], ['anon', 'shared', 'file']);
  assert.notEqual(vma(shared).flags & VM_SHARED, 0);
  assert.notEqual(vma(anon).flags & VM_ACCOUNT, 0, 'a private writable mapping is charged');
  assert.equal(vma(noreserve).flags & VM_ACCOUNT, 0);
  assert.equal(vma(file).flags & VM_WRITE, 0);
});

test('MAP_FIXED maps at the address; a shared file mapping (which the machine lacks) is -EINVAL', () => {
  const sys = spawn();
  const at = 0x100000000 + 4096;
  assert.equal(sys.mmap({ addr: at, pages: 2, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }), at);
  assert.equal(sys.mmap({ pages: 2, prot: RW, flags: MAP_SHARED, file: sys.openFile('/tmp/g', 2) }), -EINVAL);
});

test('mprotect, madvise, mremap and munmap reach the kernel', () => {
  const sys = spawn();
  const a = sys.mmap({ pages: 512, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  assert.equal(sys.madvise(a, 512, 'hugepage'), 0);
  assert.notEqual(sys.task.mm.findVma(a)!.flags & VM_HUGEPAGE, 0);
  assert.equal(sys.mprotect(a, 512, PROT_READ), 0);
  assert.equal(sys.task.mm.findVma(a)!.flags & VM_WRITE, 0);
  const to = a + 4096;
  assert.equal(sys.mremap(a, 512, 512, MREMAP_MAYMOVE | MREMAP_FIXED, to), to);
  assert.equal(sys.task.mm.findVma(a), null);
  assert.equal(sys.munmap(to, 512), 0);
  assert.equal(sys.task.mm.vmas.length, 0);
});

test('writes into its own memory: writePage and preadv iovecs fault pages in; a page outside every VMA stops them', () => {
  const sys = spawn();
  const a = sys.mmap({ pages: 3, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  const page = new Uint8Array(4096).fill(0x5a);
  assert.equal(sys.writePage(a, page), 0);
  assert.equal(sys.task.mm.read8(a * 4096 + 100), 0x5a);
  const iov: Uint8Array[] = [];
  assert.equal(sys.memoryIovecs(a + 1, 2, iov), 2);
  assert.equal(iov.reduce((n, v) => n + v.length, 0), 2 * 4096);
  for (const v of iov) v.fill(7);
  assert.equal(sys.task.mm.read8((a + 2) * 4096 + 4095), 7, 'the iovecs are the pages themselves');
  assert.equal(sys.memoryIovecs(a + 2, 2, iov), 1, 'page a+3 lies outside every VMA');
});

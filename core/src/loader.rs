//! The program loader: static and dynamic (PT_INTERP) ELF executables,
//! `#!` scripts, and the initial stack (argv, envp, auxv) — Linux's
//! `fs/exec.c`, `binfmt_elf.c` and `binfmt_script.c`.
//!
//! # Linux behaviour followed
//! - The file is found through the VFS like `open_exec`: following
//!   symlinks (`AT_SYMLINK_NOFOLLOW` gives `ELOOP`), `AT_EMPTY_PATH` for
//!   fexecve; directories and non-regular files are `EACCES`, and so is a
//!   file without execute permission.
//! - `#!` scripts: the first line (within 256 bytes) names the interpreter
//!   and at most one argument (everything after the name, trimmed); argv
//!   becomes `interp [arg] script args[1..]`. At most 5 scripts may chain
//!   (the sixth rewrite is `ELOOP`), as Linux's `exec_binprm`. A line with
//!   no interpreter, or an interpreter name cut off by the 256-byte limit,
//!   is `ENOEXEC`.
//! - ELF64 x86-64 `ET_EXEC` (at its addresses) and `ET_DYN` (PIE: at
//!   2/3 of the address space plus up to 1 TiB of randomisation, or, with
//!   no interpreter, placed top-down like a library — how a static PIE or
//!   a directly run `ld.so` loads). PT_INTERP names an ELF interpreter
//!   loaded top-down; execution starts at its entry with `AT_BASE` set.
//!   Segments are mapped privately from the file (pages are read on first
//!   touch), `.bss` past the file part is anonymous, and the rest of the
//!   last file page of a segment with `p_memsz > p_filesz` is zeroed to
//!   the end of the page (ld.so's early allocator relies on that).
//! - Validation never trusts the headers: bad magic, class, byte order,
//!   version, machine, type or program-header size is `ENOEXEC` (`ELIBBAD`
//!   for the interpreter); the program-header table is at most 64 KiB
//!   (Linux's bound); a PT_INTERP path is 2..=4096 bytes and
//!   NUL-terminated; `p_filesz > p_memsz`, segments that do not fit the
//!   address space or overflow, and entry points outside it are `EINVAL`
//!   (`ENOMEM` for the interpreter's segments), a file offset not
//!   congruent with its address is `EINVAL`; a short read of a header is
//!   `EIO`. Nothing is allocated from a header value beyond these bounds.
//! - The initial stack is Linux's `create_elf_tables` layout: from the
//!   top, 8 zero bytes, the exec file name (`AT_EXECFN`), the environment
//!   and argument strings, a random 0..8 KiB gap, the platform string
//!   `x86_64`, 16 random bytes (`AT_RANDOM`), then (16-byte aligned at
//!   `rsp`) argc, argv pointers, NULL, envp pointers, NULL and the auxv
//!   pairs ending in `AT_NULL`. The stack VMA spans the strings plus
//!   128 KiB and grows down to RLIMIT_STACK. Its top lies up to 16 GiB
//!   below the top of the user address space; mmap_base sits below the
//!   stack's maximum size and guard gap plus up to 1 TiB of randomisation;
//!   the heap starts after the highest segment plus up to 32 MiB. With
//!   the ADDR_NO_RANDOMIZE persona (`setarch -R`, gdb) none of these
//!   offsets is random, so two executions get the same layout; execve
//!   keeps the persona (see [`crate::syscalls::admin::persona_for_exec`]).
//! - The vDSO (see [`crate::vdso`]) is mapped after the interpreter,
//!   top-down, and named by `AT_SYSINFO_EHDR`, the first auxv entry as on
//!   x86-64 Linux; no room for it fails the exec with `ENOMEM`.
//! - Argument limits: the strings and pointers together may use a quarter
//!   of RLIMIT_STACK (at most 6 MiB, at least 128 KiB), each string at
//!   most 128 KiB: `E2BIG` otherwise. An empty argv gets `""` as `argv[0]`,
//!   as Linux does since 5.18.
//! - On success ([`exec`]): the task gets the new address space and
//!   registers (rip at the entry, rsp at argc, rdx = 0, cs/ss user
//!   selectors, IF set, everything else zero), close-on-exec fds are
//!   closed, caught signals revert to SIG_DFL (ignored ones stay ignored),
//!   the FP state is reset, the exe link, comm and argument ranges are
//!   recorded, and `clear_child_tid` / the robust list are forgotten.
//!
//! - Set-user-ID and set-group-ID programs ([`exec_creds`]) run with the
//!   file's owner / group as effective ids (saved ids follow, as Linux
//!   always sets them), unless the mount is `nosuid` or the task has
//!   PR_SET_NO_NEW_PRIVS; `AT_SECURE` is 1 when the effective ids differ
//!   from the real ones. A program on a `noexec` mount is `EACCES`.
//!
//! # Left out
//! file capabilities, ETXTBSY, binfmt_misc, 32-bit ELF, killing the other threads of the
//! group (issue 3), and the futex wake on `clear_child_tid`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::elf::*;
use veil_abi::flags::*;
use veil_abi::{Elf64Ehdr, Elf64Phdr, Errno, PtRegs, PAGE_SIZE};
use zerocopy::FromBytes;

use crate::addr::UserAddr;
use crate::mm::{Layout, MappedFile, MemoryManager, MMAP_MIN_ADDR};
use crate::platform::{CpuState, Prot};
use crate::task::{Credentials, Task};
use crate::vfs::walk::{resolve, WalkFlags};
use crate::vfs::{FileOps, FileType, Location};

/// Bytes of a file examined to recognise its format (Linux's
/// `BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;
/// Script rewrites allowed before `ELOOP`.
pub const MAX_SCRIPT_DEPTH: u32 = 5;
/// Longest single argument or environment string, NUL included.
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Linux's `_STK_LIM`: arguments may use at most 3/4 of it.
const STK_LIM: u64 = 8 << 20;
/// Linux's `ARG_MAX`: the argument space is at least this.
const ARG_MAX: u64 = 32 * PAGE_SIZE;
/// Largest program-header table accepted (Linux's bound).
const MAX_PHDRS_BYTES: usize = 65536;
/// Extra stack mapped below the strings at exec (Linux's `stack_expand`).
const STACK_EXPAND: u64 = 128 << 10;
/// `AT_HWCAP`: CPUID.1:EDX of a common x86-64 CPU (no cpuid here).
pub const HWCAP: u64 = 0x178b_fbff;
/// `AT_HWCAP2`: `HWCAP2_FSGSBASE`.
pub const HWCAP2: u64 = 0x2;
/// `AT_MINSIGSTKSZ`: what Linux reports on an AVX-512-less x86-64 CPU.
pub const MINSIGSTKSZ: u64 = 3632;
/// `AT_CLKTCK`.
const CLKTCK: u64 = 100;
/// The platform string (`AT_PLATFORM`).
const PLATFORM: &[u8] = b"x86_64";
/// Largest segment alignment honoured when placing an `ET_DYN`.
const MAX_ALIGN: u64 = 1 << 30;
/// User-mode code and stack selectors on x86-64 Linux.
const USER_CS: u64 = 0x33;
const USER_SS: u64 = 0x2b;

/// A program loaded into a fresh address space, not yet installed.
pub struct Image {
    /// The new address space.
    pub mm: MemoryManager,
    /// Registers to start with.
    pub regs: PtRegs,
    /// The executable (an interpreter of scripts, not the script).
    pub exe: Location,
    /// The command name (basename of the path given, at most 15 bytes).
    pub comm: Vec<u8>,
    /// (argv start, argv end, env start, env end) in the new memory.
    pub args_range: (u64, u64, u64, u64),
    /// The auxiliary vector written to the stack (for tests, /proc).
    pub auxv: Vec<(u64, u64)>,
    /// The credentials the program runs with ([`exec_creds`]).
    pub creds: Credentials,
    /// The persona it runs with (see [`crate::syscalls::admin`]).
    pub personality: u32,
}

/// The credentials a program runs with (Linux's `bprm_fill_uid` and the
/// commoncap rules for a file without capabilities): a set-user-ID file
/// makes its owner the effective uid, a set-group-ID file that group
/// members may execute makes its group the effective gid, unless the
/// mount is `nosuid` or the task has no_new_privs. The saved and fs ids
/// then follow the effective ones, set-ID or not.
fn exec_creds(task: &Task, loc: &Location) -> Result<Credentials, Errno> {
    let mut c = task.creds.clone();
    let attr = loc.inode().attr()?;
    if !c.no_new_privs && loc.mount.setid_allowed() {
        if attr.mode & S_ISUID != 0 {
            c.euid = attr.uid;
        }
        // S_IXGRP (0o010): set-group-ID without group execute is mandatory
        // locking, not a set-ID program.
        if attr.mode & (S_ISGID | 0o010) == (S_ISGID | 0o010) {
            c.egid = attr.gid;
        }
    }
    c.suid = c.euid;
    c.fsuid = c.euid;
    c.sgid = c.egid;
    c.fsgid = c.egid;
    Ok(c)
}

/// Replaces the task's image with the program at `path` (relative to the
/// cwd): execve's work once the arguments are read. On error the task is
/// untouched. The new image starts with rax = 0.
pub fn exec(
    task: &mut Task,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    exec_at(task, AT_FDCWD, path, 0, argv, envp)
}

/// [`exec`] for execveat: `path` relative to `dirfd`, with `flags`
/// `AT_EMPTY_PATH` and `AT_SYMLINK_NOFOLLOW`.
pub fn exec_at(
    task: &mut Task,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    let image = load_at(task, dirfd, path, flags, argv, envp)?;
    // The image is good: the other threads end before it replaces theirs.
    crate::process::de_thread(task)?;
    install(task, image);
    Ok(())
}

/// Loads the program at `path` into a fresh address space without
/// touching the task (the old name of this entry point; see [`load_at`]).
pub fn load(
    task: &Task,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<Image, Errno> {
    load_at(task, AT_FDCWD, path, 0, argv, envp)
}

/// Installs a loaded image in `task`: the point of no return of execve.
pub fn install(task: &mut Task, image: Image) {
    // Robust futexes and PI locks (Linux's futex_exec_release).
    crate::syscalls::futex::release(task, false);
    if task.clear_child_tid != 0 && Arc::strong_count(&task.mm) > 1 {
        // Linux's mm_release: tell a vfork parent / thread waiting on it.
        let _ = task.mm.write_obj(UserAddr(task.clear_child_tid), &0u32);
    }
    task.clear_child_tid = 0;
    task.robust_list = (0, 0);
    task.mm = Arc::new(image.mm);
    task.cpu = CpuState { regs: image.regs };
    *task.tg.exe.lock() = Some(image.exe);
    *task.tg.comm.lock() = String::from_utf8_lossy(&image.comm).into_owned();
    *task.tg.args_range.lock() = image.args_range;
    *task.tg.auxv.lock() = image.auxv;
    let old_creds = core::mem::replace(&mut task.creds, image.creds);
    let persona = image.personality;
    task.tg.pm.set_sched(task.tid, |s| s.personality = persona);
    // Dropped here, outside the table's lock.
    drop(task.fds.close_on_exec());
    for sa in task.tg.sigactions.lock().iter_mut() {
        if sa.handler != SIG_IGN {
            sa.handler = SIG_DFL;
        }
        sa.flags = 0;
        sa.restorer = 0;
        sa.mask = 0;
    }
    task.signals.on_exec();
    task.pending.reset_fp = true;
    crate::process::on_exec(task);
    crate::syscalls::creds::dumpable_on_exec(task, &old_creds);
}

/// An executable file opened for loading.
struct ExecFile {
    loc: Location,
    ops: Arc<dyn FileOps>,
    /// The first bytes of the file (zero-padded).
    head: [u8; BINPRM_BUF_SIZE],
    /// How many of `head` came from the file.
    head_len: usize,
}

/// Linux's `open_exec` / `do_open_execat`.
fn open_exec(task: &Task, dirfd: i32, path: &[u8], flags: u32) -> Result<ExecFile, Errno> {
    let walk = WalkFlags {
        follow: flags & AT_SYMLINK_NOFOLLOW == 0,
        empty_ok: flags & AT_EMPTY_PATH != 0,
    };
    let loc = resolve(task, dirfd, path, walk)?;
    let attr = loc.inode().attr()?;
    match attr.file_type() {
        Some(FileType::Regular) => {}
        Some(FileType::Symlink) => return Err(Errno::ELOOP),
        _ => return Err(Errno::EACCES),
    }
    if !crate::vfs::perm::may_access(&task.creds, &attr, X_OK) {
        return Err(Errno::EACCES);
    }
    loc.mount.check_exec()?;
    let ops = loc.inode().open(task, O_RDONLY)?;
    let mut head = [0u8; BINPRM_BUF_SIZE];
    let head_len = read_at(&*ops, 0, &mut head)?;
    Ok(ExecFile {
        loc,
        ops,
        head,
        head_len,
    })
}

/// Reads as much of `buf` as the file has at `off`; returns the count.
fn read_at(ops: &dyn FileOps, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut got = 0;
    while got < buf.len() {
        let at = off.checked_add(got as u64).ok_or(Errno::EINVAL)?;
        match ops.read(&mut buf[got..], at) {
            Ok(0) => break,
            Ok(n) => got += n.min(buf.len() - got),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads exactly `buf.len()` bytes at `off`; a short file is `EIO`.
fn read_exact_at(ops: &dyn FileOps, off: u64, buf: &mut [u8]) -> Result<(), Errno> {
    if read_at(ops, off, buf)? == buf.len() {
        Ok(())
    } else {
        Err(Errno::EIO)
    }
}

/// Bytes the argument and environment strings and their pointers may
/// take for a stack limit of `stack_rlimit` (Linux's `bprm_stack_limits`:
/// a quarter of the stack, at most 6 MiB, at least 128 KiB).
pub fn arg_limit(stack_rlimit: u64) -> u64 {
    (STK_LIM / 4 * 3).min(stack_rlimit / 4).max(ARG_MAX)
}

/// Linux's `bprm_stack_limits` check on the total argument size.
fn check_arg_limits(argv: &[Vec<u8>], envp: &[Vec<u8>], stack_rlimit: u64) -> Result<(), Errno> {
    let limit = arg_limit(stack_rlimit);
    let ptrs = (argv.len().max(1) as u64 + envp.len() as u64).saturating_mul(8);
    if limit <= ptrs {
        return Err(Errno::E2BIG);
    }
    let mut total = 0u64;
    for s in argv.iter().chain(envp.iter()) {
        if s.len() + 1 > MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        total += s.len() as u64 + 1;
    }
    if total > limit - ptrs {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// A `#!` line: the interpreter and its optional argument.
type Shebang = (Vec<u8>, Option<Vec<u8>>);

/// The interpreter and optional argument of a `#!` line, parsed as
/// Linux's `load_script` does, or `None` if `head` is not a script.
fn parse_shebang(head: &[u8]) -> Option<Result<Shebang, Errno>> {
    if head.len() < 2 || &head[..2] != b"#!" {
        return None;
    }
    let is_blank = |c: u8| c == b' ' || c == b'\t';
    // The line ends at a newline; without one in the buffer, the name
    // must be followed by a terminator inside it (else it was cut off).
    let line: &[u8] = match head.iter().position(|&c| c == b'\n') {
        Some(nl) => &head[..nl],
        None => {
            let body = &head[2..];
            let Some(first) = body.iter().position(|&c| !is_blank(c)) else {
                return Some(Err(Errno::ENOEXEC));
            };
            let name_len = body[first..].iter().position(|&c| is_blank(c) || c == 0);
            if name_len.is_none() {
                return Some(Err(Errno::ENOEXEC));
            }
            // Linux drops the last byte of the buffer to make room for NUL.
            &head[..head.len() - 1]
        }
    };
    // A NUL ends the line too (the buffer is NUL-terminated C text).
    let line = match line.iter().position(|&c| c == 0) {
        Some(z) => &line[..z],
        None => line,
    };
    let mut rest = &line[2..];
    while let [c, tail @ ..] = rest {
        if is_blank(*c) {
            rest = tail;
        } else {
            break;
        }
    }
    while let [head @ .., c] = rest {
        if is_blank(*c) {
            rest = head;
        } else {
            break;
        }
    }
    if rest.is_empty() {
        return Some(Err(Errno::ENOEXEC));
    }
    let name_end = rest.iter().position(|&c| is_blank(c)).unwrap_or(rest.len());
    let name = rest[..name_end].to_vec();
    let mut arg = &rest[name_end..];
    while let [c, tail @ ..] = arg {
        if is_blank(*c) {
            arg = tail;
        } else {
            break;
        }
    }
    let arg = (!arg.is_empty()).then(|| arg.to_vec());
    Some(Ok((name, arg)))
}

/// What the ELF headers say, validated.
struct Elf {
    ehdr: Elf64Ehdr,
    phdrs: Vec<Elf64Phdr>,
}

/// Parses and validates the ELF header in `f.head` and reads the program
/// headers. `bad` is the errno for a file that is not an x86-64 ELF
/// (`ENOEXEC`, or `ELIBBAD` for an interpreter).
fn parse_elf(f: &ExecFile, bad: Errno) -> Result<Elf, Errno> {
    if f.head_len < core::mem::size_of::<Elf64Ehdr>() {
        return Err(bad);
    }
    let ehdr = Elf64Ehdr::read_from_prefix(&f.head)
        .map(|(h, _)| h)
        .map_err(|_| bad)?;
    let id = &ehdr.e_ident;
    if id[..4] != MAGIC || id[4] != CLASS64 || id[5] != DATA2LSB || id[6] != 1 {
        return Err(bad);
    }
    if ehdr.e_machine != EM_X86_64 {
        return Err(bad);
    }
    if ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN {
        return Err(Errno::ENOEXEC);
    }
    if ehdr.e_phentsize as usize != core::mem::size_of::<Elf64Phdr>() {
        return Err(Errno::ENOEXEC);
    }
    let n = ehdr.e_phnum as usize;
    let size = n * core::mem::size_of::<Elf64Phdr>();
    if n < 1 || size > MAX_PHDRS_BYTES {
        return Err(Errno::ENOEXEC);
    }
    let mut raw = vec![0u8; size];
    read_exact_at(&*f.ops, ehdr.e_phoff, &mut raw)?;
    let phdrs = raw
        .chunks_exact(core::mem::size_of::<Elf64Phdr>())
        .filter_map(|c| Elf64Phdr::read_from_bytes(c).ok())
        .collect::<Vec<_>>();
    if phdrs.len() != n {
        return Err(Errno::ENOEXEC);
    }
    Ok(Elf { ehdr, phdrs })
}

/// Where an ELF ended up.
struct Loaded {
    /// Load bias (0 for ET_EXEC).
    bias: u64,
    /// Entry point (biased).
    entry: u64,
    /// One past the highest segment byte (biased), for brk.
    end: u64,
    /// Address of the program headers in memory (AT_PHDR), if mapped.
    phdr: u64,
}

fn prot_of(p_flags: u32) -> Prot {
    let mut p = Prot::empty();
    if p_flags & PF_R != 0 {
        p |= Prot::READ;
    }
    if p_flags & PF_W != 0 {
        p |= Prot::WRITE;
    }
    if p_flags & PF_X != 0 {
        p |= Prot::EXEC;
    }
    p
}

/// A random multiple of a page below `range` bytes (0 when `random` is
/// off: the ADDR_NO_RANDOMIZE persona).
fn rand_pages(task: &Task, random: bool, range: u64) -> u64 {
    if !random || range < PAGE_SIZE {
        return 0;
    }
    let mut b = [0u8; 8];
    task.kernel.random.fill(&mut b);
    (u64::from_le_bytes(b) % (range / PAGE_SIZE)) * PAGE_SIZE
}

/// Maps the PT_LOAD segments of `elf` into `mm`. `base` is where an
/// ET_DYN goes (`None`: top-down, as a library). `seg_err` is the errno
/// for a segment that does not fit (EINVAL for the program, ENOMEM for
/// the interpreter).
fn map_elf(
    mm: &MemoryManager,
    f: &ExecFile,
    elf: &Elf,
    base: Option<u64>,
    name: &[u8],
    seg_err: Errno,
) -> Result<Loaded, Errno> {
    let max = mm.max_address();
    let loads: Vec<&Elf64Phdr> = elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    // Extent and alignment of the image, unbiased.
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut align = PAGE_SIZE;
    for p in &loads {
        if p.p_filesz > p.p_memsz || p.p_memsz > max {
            return Err(seg_err);
        }
        let end = p.p_vaddr.checked_add(p.p_memsz).ok_or(seg_err)?;
        lo = lo.min(p.p_vaddr & !(PAGE_SIZE - 1));
        hi = hi.max(end);
        if p.p_align.is_power_of_two() && p.p_align > align && p.p_align <= MAX_ALIGN {
            align = p.p_align;
        }
    }
    let hi = crate::addr::page_round_up(hi).ok_or(seg_err)?;
    let total = hi - lo;
    if total > max {
        return Err(seg_err);
    }
    // Where the lowest page goes.
    let start = if elf.ehdr.e_type == ET_EXEC {
        lo
    } else {
        match base {
            Some(b) => b & !(align - 1),
            None => {
                // Find a hole top-down (aligned), then map into it.
                let want = total.checked_add(align - PAGE_SIZE).ok_or(Errno::ENOMEM)?;
                let flags = MAP_PRIVATE | MAP_ANONYMOUS;
                let at = mm.mmap(UserAddr(0), want, Prot::empty(), flags, None)?;
                mm.munmap(at, want)?;
                at.0.checked_add(align - 1).ok_or(Errno::ENOMEM)? & !(align - 1)
            }
        }
    };
    if !matches!(start.checked_add(total), Some(e) if e <= max) {
        return Err(seg_err);
    }
    let bias = start.wrapping_sub(lo);
    let file = MappedFile {
        file: f.ops.clone(),
        name: name.to_vec(),
        dev_ino: f
            .loc
            .inode()
            .attr()
            .map(|a| (a.dev, a.ino))
            .unwrap_or((0, 0)),
        writable: false,
    };
    let mut end_max = 0u64;
    let mut phdr = 0u64;
    let phoff = elf.ehdr.e_phoff;
    for p in &loads {
        let vaddr = start + (p.p_vaddr - lo);
        let vend = vaddr.checked_add(p.p_memsz).ok_or(seg_err)?;
        if vend > max {
            return Err(seg_err);
        }
        if p.p_offset % PAGE_SIZE != p.p_vaddr % PAGE_SIZE {
            return Err(Errno::EINVAL);
        }
        let prot = prot_of(p.p_flags);
        let map_start = vaddr & !(PAGE_SIZE - 1);
        let file_off = p.p_offset - (vaddr - map_start);
        let file_end = crate::addr::page_round_up(vaddr + p.p_filesz).ok_or(seg_err)?;
        if p.p_filesz > 0 {
            mm.mmap(
                UserAddr(map_start),
                file_end - map_start,
                prot,
                MAP_PRIVATE | MAP_FIXED,
                Some((file.clone(), file_off)),
            )?;
            if p.p_memsz > p.p_filesz {
                // Zero the rest of the last file page, to the page's end
                // (Linux's padzero): glibc's ld.so allocates its first
                // objects there and relies on them reading as zero.
                let z = vaddr + p.p_filesz;
                let zlen = file_end - z;
                if zlen > 0
                    && mm.zero_force(UserAddr(z), zlen).is_err()
                    && prot.contains(Prot::WRITE)
                {
                    return Err(Errno::EFAULT);
                }
            }
        }
        let bss_start = if p.p_filesz > 0 { file_end } else { map_start };
        let bss_end = crate::addr::page_round_up(vend).ok_or(seg_err)?;
        if bss_end > bss_start {
            mm.mmap(
                UserAddr(bss_start),
                bss_end - bss_start,
                prot,
                MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
                None,
            )?;
        }
        end_max = end_max.max(vend);
        if p.p_offset <= phoff && phoff < p.p_offset.saturating_add(p.p_filesz) {
            phdr = (phoff - p.p_offset) + vaddr;
        }
    }
    let entry = elf.ehdr.e_entry.wrapping_add(bias);
    if entry >= max {
        return Err(Errno::EINVAL);
    }
    Ok(Loaded {
        bias,
        entry,
        end: end_max,
        phdr,
    })
}

/// Loads the program at `path` (relative to `dirfd`, with execveat's
/// `flags`) into a fresh address space. The task is not changed.
pub fn load_at(
    task: &Task,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<Image, Errno> {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut argv = argv;
    if argv.is_empty() {
        argv.push(Vec::new());
    }
    let stack_rlimit = task.rlimit(RLIMIT_STACK);
    check_arg_limits(&argv, &envp, stack_rlimit)?;
    // The name the program was started by (AT_EXECFN, comm, and the
    // script argument), as Linux builds bprm->filename.
    let filename: Vec<u8> = if dirfd == AT_FDCWD || path.first() == Some(&b'/') {
        path.to_vec()
    } else if path.is_empty() {
        alloc::format!("/dev/fd/{dirfd}").into_bytes()
    } else {
        let mut v = alloc::format!("/dev/fd/{dirfd}/").into_bytes();
        v.extend_from_slice(path);
        v
    };

    // Scripts: rewrite argv and open the interpreter, up to the limit.
    let mut file = open_exec(task, dirfd, path, flags)?;
    let mut interp_name = filename.clone();
    let mut depth = 0;
    // Like Linux, the whole zero-padded buffer is examined.
    while let Some(parsed) = parse_shebang(&file.head).filter(|_| file.head_len >= 2) {
        let (name, arg) = parsed?;
        depth += 1;
        if depth > MAX_SCRIPT_DEPTH {
            return Err(Errno::ELOOP);
        }
        let mut nargv = Vec::with_capacity(argv.len() + 2);
        nargv.push(name.clone());
        if let Some(a) = arg {
            nargv.push(a);
        }
        nargv.push(interp_name.clone());
        nargv.extend(argv.drain(..).skip(1));
        argv = nargv;
        check_arg_limits(&argv, &envp, stack_rlimit)?;
        file = open_exec(task, AT_FDCWD, &name, 0)?;
        interp_name = name;
    }
    if depth > MAX_SCRIPT_DEPTH {
        return Err(Errno::ELOOP);
    }

    let elf = parse_elf(&file, Errno::ENOEXEC)?;
    // PT_INTERP and PT_GNU_STACK.
    let mut interp: Option<(ExecFile, Elf)> = None;
    let mut exec_stack = false;
    for p in &elf.phdrs {
        match p.p_type {
            PT_INTERP if interp.is_none() => {
                if p.p_filesz < 2 || p.p_filesz > PATH_MAX as u64 {
                    return Err(Errno::ENOEXEC);
                }
                let mut name = vec![0u8; p.p_filesz as usize];
                read_exact_at(&*file.ops, p.p_offset, &mut name)?;
                if name.pop() != Some(0) {
                    return Err(Errno::ENOEXEC);
                }
                if let Some(z) = name.iter().position(|&c| c == 0) {
                    name.truncate(z);
                }
                if name.is_empty() {
                    return Err(Errno::ENOENT);
                }
                let f = open_exec(task, AT_FDCWD, &name, 0)?;
                let ie = parse_elf(&f, Errno::ELIBBAD)?;
                interp = Some((f, ie));
            }
            PT_GNU_STACK => exec_stack = p.p_flags & PF_X != 0,
            _ => {}
        }
    }

    // The credentials and persona the program runs with; the persona
    // decides whether the layout is randomised (Linux's PF_RANDOMIZE).
    let creds = exec_creds(task, &file.loc)?;
    let setid = creds.euid != task.creds.euid || creds.egid != task.creds.egid;
    let personality =
        crate::syscalls::admin::persona_for_exec(task.tg.pm.sched(task.tid).personality, setid);
    let random = personality & crate::syscalls::admin::ADDR_NO_RANDOMIZE == 0;

    // A fresh address space and its layout.
    let mm = MemoryManager::for_kernel(&task.kernel)?;
    let max = mm.max_address();
    let stack_top =
        (max - rand_pages(task, random, (16u64 << 30).min(max / 64))) & !(PAGE_SIZE - 1);
    let stack_limit = stack_rlimit.min(max / 4).max(STACK_EXPAND);
    let gap = (stack_rlimit.min(max))
        .saturating_add(crate::mm::vma::STACK_GUARD_GAP)
        .saturating_add((16u64 << 30).min(max / 64))
        .clamp(128 << 20, max / 6 * 5);
    let mmap_base = max.saturating_sub(gap).saturating_sub(rand_pages(
        task,
        random,
        (1u64 << 40).min(max / 16),
    )) & !(PAGE_SIZE - 1);
    mm.set_layout(Layout {
        mmap_base,
        brk_start: 0,
        stack_start: 0,
        stack_limit,
    });

    let exe_name = file.loc.path_from(&task.fs.lock().root);
    let dyn_base = (max / 3 * 2) & !(PAGE_SIZE - 1);
    let base = if elf.ehdr.e_type == ET_DYN && interp.is_some() {
        Some(dyn_base + rand_pages(task, random, (1u64 << 40).min(max / 16)))
    } else {
        None
    };
    let main = map_elf(&mm, &file, &elf, base, &exe_name, Errno::EINVAL)?;
    let (entry, at_base) = match &interp {
        Some((f, ie)) => {
            let name = f.loc.path_from(&task.fs.lock().root);
            let l = map_elf(&mm, f, ie, None, &name, Errno::ENOMEM)?;
            (l.entry, l.bias)
        }
        None => (main.entry, 0),
    };
    // The vDSO and its parameter page (Linux's arch_setup_additional_pages).
    let sysinfo_ehdr = match task.kernel.vdso() {
        Some(v) => Some(v.map_into(&mm)?.0),
        None => None,
    };

    // The heap.
    let brk_base = if elf.ehdr.e_type == ET_DYN && interp.is_none() {
        dyn_base
    } else {
        crate::addr::page_round_up(main.end).ok_or(Errno::ENOMEM)?
    };
    let brk_start = brk_base + rand_pages(task, random, 32 << 20);

    // The stack.
    let stack = build_stack(
        task,
        &mm,
        stack_top,
        exec_stack,
        &filename,
        &argv,
        &envp,
        &StackInfo {
            phdr: main.phdr,
            phnum: elf.ehdr.e_phnum as u64,
            entry: main.entry,
            base: at_base,
            sysinfo_ehdr,
            creds: &creds,
            random,
        },
    )?;
    mm.set_layout(Layout {
        mmap_base,
        brk_start,
        stack_start: stack.sp,
        stack_limit,
    });

    let regs = PtRegs {
        rip: entry,
        rsp: stack.sp,
        cs: USER_CS,
        ss: USER_SS,
        eflags: 0x202,
        ..PtRegs::default()
    };
    let base_name = filename.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
    let comm = base_name[..base_name.len().min(15)].to_vec();
    Ok(Image {
        mm,
        regs,
        exe: file.loc,
        comm,
        args_range: stack.args_range,
        auxv: stack.auxv,
        creds,
        personality,
    })
}

/// What the auxv says about the program.
struct StackInfo<'a> {
    /// The credentials the program runs with (`AT_UID` ... `AT_SECURE`).
    creds: &'a Credentials,
    phdr: u64,
    phnum: u64,
    entry: u64,
    base: u64,
    /// Where the vDSO is (`AT_SYSINFO_EHDR`), if there is one.
    sysinfo_ehdr: Option<u64>,
    /// Randomise the gap below the strings.
    random: bool,
}

struct Stack {
    sp: u64,
    args_range: (u64, u64, u64, u64),
    auxv: Vec<(u64, u64)>,
}

/// Maps the stack VMA at `stack_top` and writes the strings, pointers and
/// auxv as Linux's `create_elf_tables` does.
#[allow(clippy::too_many_arguments)]
fn build_stack(
    task: &Task,
    mm: &MemoryManager,
    stack_top: u64,
    exec_stack: bool,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    info: &StackInfo,
) -> Result<Stack, Errno> {
    // Strings: argv[0] lowest, then the rest of argv, envp, the file name,
    // and 8 zero bytes at the very top.
    let strings_len: u64 = argv
        .iter()
        .chain(envp.iter())
        .map(|s| s.len() as u64 + 1)
        .sum::<u64>()
        + execfn.len() as u64
        + 1
        + 8;
    let strings_start = stack_top
        .checked_sub(strings_len)
        .filter(|&s| s > MMAP_MIN_ADDR + STACK_EXPAND)
        .ok_or(Errno::E2BIG)?;
    let mut area = Vec::with_capacity(strings_len as usize);
    let mut argv_ptrs = Vec::with_capacity(argv.len());
    let mut envp_ptrs = Vec::with_capacity(envp.len());
    for s in argv {
        argv_ptrs.push(strings_start + area.len() as u64);
        area.extend_from_slice(s);
        area.push(0);
    }
    let arg_end = strings_start + area.len() as u64;
    for s in envp {
        envp_ptrs.push(strings_start + area.len() as u64);
        area.extend_from_slice(s);
        area.push(0);
    }
    let env_end = strings_start + area.len() as u64;
    let execfn_addr = env_end;
    area.extend_from_slice(execfn);
    area.push(0);
    area.extend_from_slice(&[0u8; 8]);

    // The VMA: the strings plus 128 KiB, growing down to the limit.
    let layout = mm.layout();
    let vma_lo = (strings_start & !(PAGE_SIZE - 1))
        .saturating_sub(STACK_EXPAND)
        .max(stack_top.saturating_sub(layout.stack_limit));
    let mut prot = Prot::READ | Prot::WRITE;
    if exec_stack {
        prot |= Prot::EXEC;
    }
    mm.mmap(
        UserAddr(vma_lo),
        stack_top - vma_lo,
        prot,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
        None,
    )?;
    mm.copy_out(UserAddr(strings_start), &area)?;

    // Below the strings: a random gap, the platform string, AT_RANDOM.
    let mut r = [0u8; 2];
    task.kernel.random.fill(&mut r);
    let gap = if info.random {
        u16::from_le_bytes(r) as u64 % 8192
    } else {
        0
    };
    let mut p = (strings_start - gap) & !0xf;
    p -= PLATFORM.len() as u64 + 1;
    let platform_addr = p;
    let mut plat = PLATFORM.to_vec();
    plat.push(0);
    mm.copy_out(UserAddr(p), &plat)?;
    p -= 16;
    let random_addr = p;
    let mut rnd = [0u8; 16];
    task.kernel.random.fill(&mut rnd);
    mm.copy_out(UserAddr(p), &rnd)?;

    let c = info.creds;
    let secure = c.euid != c.uid || c.egid != c.gid;
    let mut auxv: Vec<(u64, u64)> = Vec::with_capacity(22);
    if let Some(ehdr) = info.sysinfo_ehdr {
        auxv.push((AT_SYSINFO_EHDR, ehdr));
    }
    auxv.extend_from_slice(&[
        (AT_MINSIGSTKSZ, MINSIGSTKSZ),
        (AT_HWCAP, HWCAP),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLKTCK),
        (AT_PHDR, info.phdr),
        (AT_PHENT, core::mem::size_of::<Elf64Phdr>() as u64),
        (AT_PHNUM, info.phnum),
        (AT_BASE, info.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, info.entry),
        (AT_UID, c.uid as u64),
        (AT_EUID, c.euid as u64),
        (AT_GID, c.gid as u64),
        (AT_EGID, c.egid as u64),
        (AT_SECURE, secure as u64),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, HWCAP2),
        (AT_EXECFN, execfn_addr),
        (AT_PLATFORM, platform_addr),
        (AT_NULL, 0),
    ]);
    let words = 1 + argv.len() + 1 + envp.len() + 1 + auxv.len() * 2;
    let sp = p.checked_sub(words as u64 * 8).ok_or(Errno::E2BIG)? & !0xf;
    let mut table: Vec<u64> = Vec::with_capacity(words);
    table.push(argv.len() as u64);
    table.extend_from_slice(&argv_ptrs);
    table.push(0);
    table.extend_from_slice(&envp_ptrs);
    table.push(0);
    for &(k, v) in &auxv {
        table.push(k);
        table.push(v);
    }
    let bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.copy_out(UserAddr(sp), &bytes)?;
    Ok(Stack {
        sp,
        args_range: (strings_start, arg_end, arg_end, env_end),
        auxv,
    })
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    use veil_abi::elf::*;
    use veil_abi::flags::*;
    use veil_abi::{sysno, Elf64Phdr, Errno, PAGE_SIZE};

    use super::*;
    use crate::fake::{ElfBuilder, FakeDir, Step, TestBed};
    use crate::task::{Credentials, ExitStatus};
    use crate::vfs::OpenFile;

    const CODE: &[u8] = b"\x0f\x05CODE";

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// A static ET_EXEC: headers at 0x400000, text at 0x401000, data at
    /// 0x403010 (100 bytes of 0x11) with 0x2000 bytes of memory.
    fn static_exe() -> ElfBuilder {
        ElfBuilder::new(ET_EXEC, 0x40_1000)
            .headers_at(0x40_0000)
            .segment(0x40_1000, CODE, 0x20, PF_R | PF_X)
            .segment(0x40_3010, &[0x11; 100], 0x2000, PF_R | PF_W)
    }

    fn bed_with(files: &[(&str, Vec<u8>, u32)]) -> (TestBed, Task) {
        let tb = TestBed::new();
        for (p, d, m) in files {
            tb.add_file(p, d, *m);
        }
        let t = tb.task();
        (tb, t)
    }

    fn word(t: &Task, addr: u64) -> u64 {
        t.mm.read_obj::<u64>(UserAddr(addr)).unwrap()
    }

    fn string_at(t: &Task, addr: u64) -> Vec<u8> {
        t.mm.read_cstring(UserAddr(addr), 4096).unwrap()
    }

    /// (argv, envp, auxv) read back from the initial stack.
    type Strings = Vec<Vec<u8>>;

    fn stack_of(t: &Task) -> (Strings, Strings, Vec<(u64, u64)>) {
        let sp = t.cpu.regs.rsp;
        let argc = word(t, sp);
        let mut at = sp + 8;
        let mut argv = Vec::new();
        for _ in 0..argc {
            argv.push(string_at(t, word(t, at)));
            at += 8;
        }
        assert_eq!(word(t, at), 0, "argv ends in NULL");
        at += 8;
        let mut envp = Vec::new();
        while word(t, at) != 0 {
            envp.push(string_at(t, word(t, at)));
            at += 8;
        }
        at += 8;
        let mut auxv = Vec::new();
        loop {
            let (k, val) = (word(t, at), word(t, at + 8));
            auxv.push((k, val));
            at += 16;
            if k == AT_NULL {
                break;
            }
        }
        (argv, envp, auxv)
    }

    fn aux(auxv: &[(u64, u64)], k: u64) -> u64 {
        auxv.iter()
            .find(|e| e.0 == k)
            .map(|e| e.1)
            .unwrap_or_else(|| panic!("no auxv entry {k}"))
    }

    #[test]
    fn vdso_is_mapped_and_first_in_auxv() {
        let (_tb, mut t) = bed_with(&[("/bin/ok", static_exe().build(), 0o755)]);
        exec(&mut t, b"/bin/ok", v(&["ok"]), vec![]).unwrap();
        let (_, _, auxv) = stack_of(&t);
        assert_eq!(auxv[0].0, AT_SYSINFO_EHDR);
        let ehdr = auxv[0].1;
        let mut head = [0u8; 4];
        t.mm.copy_in(UserAddr(ehdr), &mut head).unwrap();
        assert_eq!(&head, b"\x7fELF");
        let vmas = t.mm.vmas();
        let vdso = vmas.iter().find(|m| m.start == ehdr).unwrap();
        assert_eq!(
            (vdso.name.as_slice(), vdso.prot),
            (&b"[vdso]"[..], Prot::READ | Prot::EXEC)
        );
        let vvar = vmas.iter().find(|m| m.end == ehdr).unwrap();
        assert_eq!(
            (vvar.name.as_slice(), vvar.prot),
            (&b"[vvar]"[..], Prot::READ)
        );
        // Placed top-down, below mmap_base.
        assert!(ehdr > 0x40_0000 && ehdr < t.mm.layout().mmap_base);
        // Every exec maps the same pages again.
        let page = t.mm.translate(UserAddr(ehdr));
        assert!(page.is_some());
        exec(&mut t, b"/bin/ok", v(&["ok"]), vec![]).unwrap();
        let ehdr2 = aux(&stack_of(&t).2, AT_SYSINFO_EHDR);
        t.mm.copy_in(UserAddr(ehdr2), &mut head).unwrap();
        assert_eq!(t.mm.translate(UserAddr(ehdr2)), page);
    }

    #[test]
    fn static_exec_layout() {
        let mut img = static_exe().build();
        img.extend_from_slice(&[0xaa; 64]); // file bytes after .data
        let (tb, mut t) = bed_with(&[("/bin/static", img, 0o755)]);
        exec(
            &mut t,
            b"/bin/static",
            v(&["static", "a1"]),
            v(&["K=V", "E="]),
        )
        .unwrap();
        let r = &t.cpu.regs;
        assert_eq!(r.rip, 0x40_1000);
        assert_eq!(
            (r.cs, r.ss, r.eflags, r.rdx, r.rax),
            (0x33, 0x2b, 0x202, 0, 0)
        );
        assert_eq!(r.rsp % 16, 0);
        assert!(r.rsp < t.mm.max_address() && r.rsp > t.mm.layout().mmap_base);
        let (argv, envp, auxv) = stack_of(&t);
        assert_eq!(argv, v(&["static", "a1"]));
        assert_eq!(envp, v(&["K=V", "E="]));
        assert_eq!(auxv.last(), Some(&(AT_NULL, 0)));
        assert_eq!(aux(&auxv, AT_PHDR), 0x40_0040);
        assert_eq!(aux(&auxv, AT_PHENT), 56);
        assert_eq!(aux(&auxv, AT_PHNUM), static_exe().phdrs().len() as u64);
        assert_eq!(aux(&auxv, AT_ENTRY), 0x40_1000);
        assert_eq!(aux(&auxv, AT_BASE), 0);
        assert_eq!(aux(&auxv, AT_PAGESZ), PAGE_SIZE);
        assert_eq!(aux(&auxv, AT_CLKTCK), 100);
        assert_eq!(aux(&auxv, AT_HWCAP), HWCAP);
        assert_eq!(aux(&auxv, AT_HWCAP2), HWCAP2);
        assert_eq!(aux(&auxv, AT_SECURE), 0);
        assert_eq!(aux(&auxv, AT_FLAGS), 0);
        assert_eq!(aux(&auxv, AT_UID), 0);
        assert_eq!(string_at(&t, aux(&auxv, AT_EXECFN)), b"/bin/static");
        assert_eq!(string_at(&t, aux(&auxv, AT_PLATFORM)), b"x86_64");
        let mut rnd = [0u8; 16];
        t.mm.copy_in(UserAddr(aux(&auxv, AT_RANDOM)), &mut rnd)
            .unwrap();
        assert_ne!(rnd, [0; 16]);
        // The strings sit at the top, 8 zero bytes above the file name.
        let execfn = aux(&auxv, AT_EXECFN);
        let top = execfn + b"/bin/static\0".len() as u64 + 8;
        assert_eq!(top % PAGE_SIZE, 0);
        assert_eq!(word(&t, top - 8), 0);
        let (a0, a1, e0, e1) = *t.tg.args_range.lock();
        assert_eq!(t.mm.read_cstring(UserAddr(a0), 100).unwrap(), b"static");
        assert_eq!(a1, e0);
        assert_eq!(a1 - a0, b"static\0a1\0".len() as u64);
        assert_eq!(e1 - e0, b"K=V\0E=\0".len() as u64);
        // Memory: text, data, the zeroed tail of the data page, bss.
        let mut b = [0u8; 6];
        t.mm.copy_in(UserAddr(0x40_1000), &mut b).unwrap();
        assert_eq!(&b, CODE);
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_3010)).unwrap(), 0x11);
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_3010 + 99)).unwrap(), 0x11);
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_3010 + 100)).unwrap(), 0);
        assert_eq!(
            t.mm.read_obj::<u8>(UserAddr(0x40_3010 + 150)).unwrap(),
            0,
            "to page end"
        );
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_4fff)).unwrap(), 0);
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_5fff)), Ok(0));
        assert_eq!(t.mm.read_obj::<u8>(UserAddr(0x40_6000)), Err(Errno::EFAULT));
        let vmas = t.mm.vmas();
        let text = vmas.iter().find(|m| m.start == 0x40_1000).unwrap();
        assert_eq!(text.prot, Prot::READ | Prot::EXEC);
        assert_eq!(text.name, b"/bin/static");
        let bss = vmas.iter().find(|m| m.start == 0x40_4000).unwrap();
        assert_eq!((bss.prot, bss.end), (Prot::READ | Prot::WRITE, 0x40_6000));
        assert!(bss.name.is_empty());
        let stack = vmas.last().unwrap();
        assert_eq!(stack.name, b"[stack]");
        assert_eq!(stack.end, top);
        assert!(stack.end - stack.start >= 128 << 10);
        // brk after the image, randomised by less than 32 MiB.
        let (brk, cur) = t.mm.brk_range();
        assert_eq!(brk, cur);
        assert!(brk.0 >= 0x40_6000 && brk.0 < 0x40_6000 + (32 << 20));
        assert_eq!(brk.0 % PAGE_SIZE, 0);
        // Task state.
        assert_eq!(*t.tg.comm.lock(), "static");
        assert!(t.tg.exe.lock().is_some());
        assert!(t.pending.reset_fp);
        // The program runs: code is executable, data writable.
        let (st, log) = tb.run(
            &mut t,
            vec![
                Step::Exec(0x40_1000),
                Step::Read(0x40_1000, 6),
                Step::Write(0x40_5000, b"bss".to_vec()),
                Step::Read(0x40_3010, 1),
            ],
        );
        assert_eq!(st, ExitStatus::Exited(0));
        assert_eq!(log.reads, vec![CODE.to_vec(), vec![0x11]]);
    }

    fn interp_image() -> Vec<u8> {
        ElfBuilder::new(ET_DYN, 0x1000)
            .headers_at(0)
            .segment(0x1000, b"LDSO", 0x10, PF_R | PF_X)
            .segment(0x3000, b"d", 0x1000, PF_R | PF_W)
            .build()
    }

    #[test]
    fn pie_with_interpreter() {
        let main = ElfBuilder::new(ET_DYN, 0x1100)
            .headers_at(0)
            .segment(0x1000, CODE, 0x200, PF_R | PF_X)
            .interp("/lib64/ld.so")
            .build();
        let (tb, mut t) = bed_with(&[
            ("/bin/pie", main, 0o755),
            ("/lib64/ld.so", interp_image(), 0o755),
        ]);
        exec(&mut t, b"/bin/pie", v(&["pie"]), vec![]).unwrap();
        let (argv, envp, auxv) = stack_of(&t);
        assert_eq!((argv, envp), (v(&["pie"]), vec![]));
        let base = aux(&auxv, AT_BASE);
        let entry = aux(&auxv, AT_ENTRY);
        let bias = entry - 0x1100;
        assert!((0x5555_5555_4000..0x5555_5555_4000 + (1 << 40)).contains(&bias));
        assert_eq!(aux(&auxv, AT_PHDR), bias + 64);
        assert_eq!(t.cpu.regs.rip, base + 0x1000, "starts in the interpreter");
        assert!(base < t.mm.layout().mmap_base && base > bias);
        let mut b = [0u8; 4];
        t.mm.copy_in(UserAddr(base + 0x1000), &mut b).unwrap();
        assert_eq!(&b, b"LDSO");
        let maps = t.mm.maps_text();
        assert!(
            maps.contains("/bin/pie") && maps.contains("/lib64/ld.so"),
            "{maps}"
        );
        // /proc/self/exe is the program, not the interpreter.
        let exe = t.tg.exe.lock().clone().unwrap();
        let root = t.fs.lock().root.clone();
        assert_eq!(exe.path_from(&root), b"/bin/pie");
        let (st, log) = tb.run(
            &mut t,
            vec![Step::Exec(base + 0x1000), Step::Read(bias + 0x1000, 2)],
        );
        assert_eq!(st, ExitStatus::Exited(0));
        assert_eq!(log.reads, vec![CODE[..2].to_vec()]);
    }

    #[test]
    fn static_pie_and_direct_interpreter() {
        let (_tb, mut t) = bed_with(&[("/lib64/ld.so", interp_image(), 0o755)]);
        exec(&mut t, b"/lib64/ld.so", v(&["ld.so"]), vec![]).unwrap();
        let (_, _, auxv) = stack_of(&t);
        let entry = aux(&auxv, AT_ENTRY);
        assert_eq!(aux(&auxv, AT_BASE), 0);
        assert_eq!(t.cpu.regs.rip, entry);
        assert!(
            entry < t.mm.layout().mmap_base,
            "placed top-down like a library"
        );
        let dyn_base = (t.mm.max_address() / 3 * 2) & !(PAGE_SIZE - 1);
        let brk = t.mm.brk_range().0 .0;
        assert!((dyn_base..dyn_base + (32 << 20)).contains(&brk));
    }

    #[test]
    fn scripts() {
        let sh = static_exe().build();
        let (tb, mut t) = bed_with(&[
            ("/bin/sh", sh, 0o755),
            ("/s1", b"#!/bin/sh -x  \necho hi\n".to_vec(), 0o755),
            ("/s2", b"#!  /bin/sh\n".to_vec(), 0o755),
            ("/s3", b"#!/bin/sh  a b \t\n".to_vec(), 0o755),
            ("/s4", b"#!/bin/sh".to_vec(), 0o755),
            ("/nested", b"#!/s1 y\n".to_vec(), 0o755),
            ("/empty", b"#!\n".to_vec(), 0o755),
            ("/blank", b"#!   \t ".to_vec(), 0o755),
            ("/missing", b"#!/nope\n".to_vec(), 0o755),
        ]);
        exec(&mut t, b"/s1", v(&["s1", "arg1"]), vec![]).unwrap();
        let (argv, _, auxv) = stack_of(&t);
        assert_eq!(argv, v(&["/bin/sh", "-x", "/s1", "arg1"]));
        assert_eq!(string_at(&t, aux(&auxv, AT_EXECFN)), b"/s1");
        assert_eq!(*t.tg.comm.lock(), "s1");
        let exe = t.tg.exe.lock().clone().unwrap();
        assert_eq!(exe.path_from(&t.fs.lock().root.clone()), b"/bin/sh");

        let mut t = tb.task();
        exec(&mut t, b"/s2", v(&["x"]), vec![]).unwrap();
        assert_eq!(stack_of(&t).0, v(&["/bin/sh", "/s2"]));
        exec(&mut t, b"/s3", v(&["x"]), vec![]).unwrap();
        assert_eq!(stack_of(&t).0, v(&["/bin/sh", "a b", "/s3"]));
        exec(&mut t, b"/s4", vec![], vec![]).unwrap();
        assert_eq!(stack_of(&t).0, v(&["/bin/sh", "/s4"]));
        exec(&mut t, b"/nested", v(&["n", "z"]), vec![]).unwrap();
        assert_eq!(
            stack_of(&t).0,
            v(&["/bin/sh", "-x", "/s1", "y", "/nested", "z"])
        );
        assert_eq!(exec(&mut t, b"/empty", vec![], vec![]), Err(Errno::ENOEXEC));
        assert_eq!(exec(&mut t, b"/blank", vec![], vec![]), Err(Errno::ENOEXEC));
        assert_eq!(
            exec(&mut t, b"/missing", vec![], vec![]),
            Err(Errno::ENOENT)
        );
        // An interpreter name cut off by the 256-byte buffer.
        let mut long = b"#!/".to_vec();
        long.extend(core::iter::repeat_n(b'a', 300));
        tb.add_file("/long", &long, 0o755);
        assert_eq!(exec(&mut t, b"/long", vec![], vec![]), Err(Errno::ENOEXEC));
    }

    #[test]
    fn script_depth_limit() {
        let (tb, mut t) = bed_with(&[("/bin/sh", static_exe().build(), 0o755)]);
        tb.add_file("/c0", b"#!/bin/sh\n", 0o755);
        for i in 1..7 {
            let s = alloc::format!("#!/c{}\n", i - 1);
            tb.add_file(&alloc::format!("/c{i}"), s.as_bytes(), 0o755);
        }
        // c4 is five scripts deep: fine. c5 is six: ELOOP (as on Linux).
        exec(&mut t, b"/c4", v(&["c4"]), vec![]).unwrap();
        assert_eq!(
            stack_of(&t).0,
            v(&["/bin/sh", "/c0", "/c1", "/c2", "/c3", "/c4"])
        );
        assert_eq!(exec(&mut t, b"/c5", v(&["c5"]), vec![]), Err(Errno::ELOOP));
    }

    #[test]
    fn permissions_and_lookup() {
        let (tb, mut t) = bed_with(&[
            ("/bin/noexec", static_exe().build(), 0o644),
            ("/bin/userexec", static_exe().build(), 0o700),
            ("/bin/ok", static_exe().build(), 0o755),
        ]);
        tb.root.add_symlink("/bin/link", "/bin/ok");
        tb.root.dir("/dir");
        assert_eq!(
            exec(&mut t, b"/bin/noexec", vec![], vec![]),
            Err(Errno::EACCES)
        );
        assert_eq!(exec(&mut t, b"/dir", vec![], vec![]), Err(Errno::EACCES));
        assert_eq!(exec(&mut t, b"/nope", vec![], vec![]), Err(Errno::ENOENT));
        assert_eq!(exec(&mut t, b"", vec![], vec![]), Err(Errno::ENOENT));
        let mut user = tb.task_as(Credentials::new(1000, 1000, vec![]));
        assert_eq!(
            exec(&mut user, b"/bin/userexec", vec![], vec![]),
            Err(Errno::EACCES)
        );
        assert_eq!(exec(&mut user, b"/bin/ok", vec![], vec![]), Ok(()));
        assert_eq!(exec(&mut t, b"/bin/link", vec![], vec![]), Ok(()));
        assert_eq!(
            exec_at(
                &mut t,
                AT_FDCWD,
                b"/bin/link",
                AT_SYMLINK_NOFOLLOW,
                vec![],
                vec![]
            ),
            Err(Errno::ELOOP)
        );
        assert_eq!(
            exec_at(&mut t, AT_FDCWD, b"/bin/ok", 0x8000, vec![], vec![]),
            Err(Errno::EINVAL)
        );
        // fexecve: AT_EMPTY_PATH on an open fd; AT_EXECFN is /dev/fd/N.
        let loc = crate::vfs::walk::resolve(&t, AT_FDCWD, b"/bin/ok", Default::default()).unwrap();
        let ops = loc.inode().open(&t, O_RDONLY).unwrap();
        let fd = t
            .fds
            .insert(3, OpenFile::new(ops, Some(loc), O_RDONLY), false, 1024)
            .unwrap();
        exec_at(&mut t, fd, b"", AT_EMPTY_PATH, v(&["ok"]), vec![]).unwrap();
        let (_, _, auxv) = stack_of(&t);
        assert_eq!(string_at(&t, aux(&auxv, AT_EXECFN)), b"/dev/fd/3");
        assert_eq!(*t.tg.comm.lock(), "3");
    }

    #[test]
    fn install_resets_process_state() {
        let (tb, mut t) = bed_with(&[("/bin/ok", static_exe().build(), 0o755)]);
        let loc = crate::vfs::walk::resolve(&t, AT_FDCWD, b"/bin/ok", Default::default()).unwrap();
        let ops = loc.inode().open(&t, O_RDONLY).unwrap();
        let file = OpenFile::new(ops, Some(loc), O_RDONLY);
        t.fds.insert(0, file.clone(), false, 1024).unwrap();
        t.fds.insert(5, file, true, 1024).unwrap();
        {
            let mut sa = t.tg.sigactions.lock();
            sa[1].handler = 0x1234;
            sa[1].flags = SA_RESTART;
            sa[2].handler = SIG_IGN;
        }
        let old = t.mm.clone();
        t.clear_child_tid = 0x1000;
        exec(&mut t, b"/bin/ok", v(&["ok"]), vec![]).unwrap();
        assert!(!Arc::ptr_eq(&old, &t.mm));
        assert!(t.fds.get(0).is_ok());
        assert_eq!(t.fds.get(5).err(), Some(Errno::EBADF), "close-on-exec");
        let sa = t.tg.sigactions.lock();
        assert_eq!((sa[1].handler, sa[1].flags), (SIG_DFL, 0));
        assert_eq!(sa[2].handler, SIG_IGN);
        assert_eq!(t.clear_child_tid, 0);
        let _ = tb;
    }

    #[test]
    fn failed_exec_leaves_task_alone() {
        let (_tb, mut t) = bed_with(&[("/bad", b"\x7fELF garbage".to_vec(), 0o755)]);
        let old = t.mm.clone();
        t.cpu.regs.rip = 0x1234;
        assert_eq!(exec(&mut t, b"/bad", vec![], vec![]), Err(Errno::ENOEXEC));
        assert!(Arc::ptr_eq(&old, &t.mm));
        assert_eq!(t.cpu.regs.rip, 0x1234);
        assert!(!t.pending.reset_fp);
    }

    #[test]
    fn argument_limits() {
        let (_tb, mut t) = bed_with(&[("/bin/ok", static_exe().build(), 0o755)]);
        let huge = vec![vec![b'x'; MAX_ARG_STRLEN]];
        assert_eq!(exec(&mut t, b"/bin/ok", huge, vec![]), Err(Errno::E2BIG));
        let max = vec![vec![b'x'; MAX_ARG_STRLEN - 1]];
        assert_eq!(exec(&mut t, b"/bin/ok", max, vec![]), Ok(()));
        let many = vec![vec![b'y'; 100_000]; 30]; // 3 MB > 2 MiB
        assert_eq!(exec(&mut t, b"/bin/ok", vec![], many), Err(Errno::E2BIG));
        assert_eq!(arg_limit(8 << 20), 2 << 20);
        assert_eq!(arg_limit(u64::MAX), 6 << 20);
        assert_eq!(arg_limit(0), 128 << 10);
        // An empty argv gets "" as argv[0].
        exec(&mut t, b"/bin/ok", vec![], vec![]).unwrap();
        assert_eq!(stack_of(&t).0, vec![Vec::<u8>::new()]);
    }

    /// Writes `image` as /x and execs it.
    fn try_image(image: &[u8]) -> Result<(), Errno> {
        let (tb, mut t) = bed_with(&[]);
        tb.add_file("/x", image, 0o755);
        tb.add_file("/lib64/ld.so", &interp_image(), 0o755);
        tb.add_file(
            "/lib64/bad.so",
            b"not an elf at all, no no no no no no no no no no no no",
            0o755,
        );
        exec(&mut t, b"/x", v(&["x"]), vec![])
    }

    fn with_phdrs(b: &ElfBuilder, f: impl FnOnce(&mut Vec<Elf64Phdr>)) -> Vec<u8> {
        let mut ph = b.phdrs();
        f(&mut ph);
        b.build_with(&ph)
    }

    fn load_index(ph: &[Elf64Phdr], n: usize) -> usize {
        ph.iter()
            .enumerate()
            .filter(|(_, p)| p.p_type == PT_LOAD)
            .nth(n)
            .map(|(i, _)| i)
            .unwrap()
    }

    #[test]
    fn malformed_images() {
        let good = static_exe().build();
        assert_eq!(try_image(&good), Ok(()));
        assert_eq!(try_image(b""), Err(Errno::ENOEXEC));
        assert_eq!(try_image(b"garbage"), Err(Errno::ENOEXEC));
        assert_eq!(
            try_image(&good[..40]),
            Err(Errno::ENOEXEC),
            "truncated header"
        );
        let patch = |at: usize, bytes: &[u8]| {
            let mut g = good.clone();
            g[at..at + bytes.len()].copy_from_slice(bytes);
            g
        };
        assert_eq!(try_image(&patch(4, &[1])), Err(Errno::ENOEXEC), "32-bit");
        assert_eq!(
            try_image(&patch(5, &[2])),
            Err(Errno::ENOEXEC),
            "big endian"
        );
        assert_eq!(try_image(&patch(18, &[3, 0])), Err(Errno::ENOEXEC), "i386");
        assert_eq!(
            try_image(&patch(16, &[4, 0])),
            Err(Errno::ENOEXEC),
            "ET_CORE"
        );
        assert_eq!(
            try_image(&patch(54, &[32, 0])),
            Err(Errno::ENOEXEC),
            "phentsize"
        );
        assert_eq!(
            try_image(&patch(56, &[0, 0])),
            Err(Errno::ENOEXEC),
            "no phdrs"
        );
        assert_eq!(
            try_image(&patch(56, &[0xff, 0xff])),
            Err(Errno::ENOEXEC),
            "too many"
        );
        assert_eq!(
            try_image(&patch(56, &[0xe8, 0x03])),
            Err(Errno::EIO),
            "phdrs past EOF"
        );
        assert_eq!(
            try_image(&patch(32, &0xffff_ffff_ffff_fff0u64.to_le_bytes())),
            Err(Errno::EIO),
            "phoff far away"
        );
        assert_eq!(
            try_image(&patch(24, &0x7fff_ffff_ffffu64.to_le_bytes())),
            Err(Errno::EINVAL),
            "entry outside"
        );
        let b = static_exe();
        let t = |f: &dyn Fn(&mut Elf64Phdr)| {
            try_image(&with_phdrs(&b, |ph| {
                let i = load_index(ph, 2);
                f(&mut ph[i]);
            }))
        };
        assert_eq!(t(&|p| p.p_filesz = p.p_memsz + 1), Err(Errno::EINVAL));
        assert_eq!(t(&|p| p.p_vaddr = u64::MAX - 0x100), Err(Errno::EINVAL));
        assert_eq!(t(&|p| p.p_memsz = 1 << 62), Err(Errno::EINVAL));
        assert_eq!(t(&|p| p.p_vaddr = 0x7fff_ffff_0000), Err(Errno::EINVAL));
        assert_eq!(
            t(&|p| p.p_offset += 1),
            Err(Errno::EINVAL),
            "misaligned offset"
        );
        assert_eq!(
            t(&|p| p.p_vaddr = 0x1010),
            Err(Errno::EPERM),
            "below mmap_min_addr"
        );
        // A huge .bss is fine: nothing is allocated until touched.
        assert_eq!(t(&|p| p.p_memsz = 1 << 40), Ok(()));
        // No PT_LOAD at all.
        let none = with_phdrs(&b, |ph| {
            for p in ph.iter_mut() {
                if p.p_type == PT_LOAD {
                    p.p_type = 0x7000_0000;
                }
            }
        });
        assert_eq!(try_image(&none), Err(Errno::ENOEXEC));
    }

    #[test]
    fn malformed_interpreters() {
        let mk = |path: &str| {
            ElfBuilder::new(ET_DYN, 0x1000)
                .segment(0x1000, CODE, 0x10, PF_R | PF_X)
                .interp(path)
        };
        assert_eq!(try_image(&mk("/lib64/ld.so").build()), Ok(()));
        assert_eq!(try_image(&mk("/lib64/none.so").build()), Err(Errno::ENOENT));
        assert_eq!(try_image(&mk("/lib64/bad.so").build()), Err(Errno::ELIBBAD));
        let b = mk("/lib64/ld.so");
        let unterminated = with_phdrs(&b, |ph| ph[0].p_filesz -= 1);
        assert_eq!(try_image(&unterminated), Err(Errno::ENOEXEC));
        let huge = with_phdrs(&b, |ph| ph[0].p_filesz = 1 << 40);
        assert_eq!(try_image(&huge), Err(Errno::ENOEXEC));
        let tiny = with_phdrs(&b, |ph| ph[0].p_filesz = 1);
        assert_eq!(try_image(&tiny), Err(Errno::ENOEXEC));
        let past_eof = with_phdrs(&b, |ph| ph[0].p_offset = 1 << 20);
        assert_eq!(try_image(&past_eof), Err(Errno::EIO));
    }

    #[test]
    fn mutated_images_never_panic() {
        // Deterministic mutations of valid images: any result is fine, a
        // panic is not.
        let seeds = [
            static_exe().build(),
            ElfBuilder::new(ET_DYN, 0x1100)
                .headers_at(0)
                .segment(0x1000, CODE, 0x200, PF_R | PF_X)
                .segment(0x3000, &[1; 64], 0x5000, PF_R | PF_W)
                .interp("/lib64/ld.so")
                .build(),
        ];
        let tb = TestBed::new();
        tb.add_file("/lib64/ld.so", &interp_image(), 0o755);
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut ok = 0;
        for i in 0..1500 {
            let mut img = seeds[i % 2].clone();
            let hdr_bytes = 64 + 56 * 6;
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % hdr_bytes.min(img.len());
                img[at] = match next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => img[at].wrapping_add(1),
                    _ => next() as u8,
                };
            }
            let f = tb.add_file("/m", &img, 0o755);
            let mut t = tb.task();
            if exec(&mut t, b"/m", v(&["m"]), vec![]).is_ok() {
                ok += 1;
            }
            drop(f);
        }
        assert!(ok > 0, "some mutations still load");
        let _ = ok.to_string();
    }

    #[test]
    fn shebang_parser() {
        let p = |s: &[u8]| {
            let mut buf = [0u8; BINPRM_BUF_SIZE];
            buf[..s.len()].copy_from_slice(s);
            parse_shebang(&buf)
        };
        assert!(p(b"\x7fELF").is_none());
        assert_eq!(p(b"#!/bin/sh\n"), Some(Ok((b"/bin/sh".to_vec(), None))));
        assert_eq!(
            p(b"#!/bin/sh\0junk\n"),
            Some(Ok((b"/bin/sh".to_vec(), None)))
        );
        assert_eq!(
            p(b"#!\t/usr/bin/env  python3 -u \nx"),
            Some(Ok((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec()))))
        );
        assert_eq!(p(b"#! \n"), Some(Err(Errno::ENOEXEC)));
    }

    #[test]
    fn execve_syscall_reads_arrays() {
        let (tb, mut t) = bed_with(&[("/bin/ok", static_exe().build(), 0o755)]);
        let m =
            t.mm.mmap(
                UserAddr(0x100_0000),
                4 * PAGE_SIZE,
                Prot::READ | Prot::WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                None,
            )
            .unwrap()
            .0;
        let w = |at: u64, d: &[u8]| t.mm.copy_out(UserAddr(at), d).unwrap();
        w(m, b"/bin/ok\0");
        w(m + 16, b"ok\0");
        w(m + 32, b"arg\0");
        w(m + 48, b"HOME=/\0");
        // argv at m+0x100, envp at m+0x200, a bad argv at m+0x300.
        for (i, p) in [m + 16, m + 32, 0].iter().enumerate() {
            w(m + 0x100 + 8 * i as u64, &p.to_le_bytes());
        }
        for (i, p) in [m + 48, 0].iter().enumerate() {
            w(m + 0x200 + 8 * i as u64, &p.to_le_bytes());
        }
        w(m + 0x300, &0xdead_0000u64.to_le_bytes());
        let ex = |p: u64, a: u64, e: u64| Step::Syscall(sysno::EXECVE, [p, a, e, 0, 0, 0]);
        let (st, log) = tb.run(
            &mut t,
            vec![
                ex(0xdead_0000, m + 0x100, 0),
                ex(m, m + 0x300, 0),
                ex(m, 0xdead_0000, 0),
                ex(m + 16, m + 0x100, 0),
                ex(m, m + 0x100, m + 0x200),
                // Now in the new image.
                Step::Exec(0x40_1000),
                Step::Read(0x40_1000, 2),
            ],
        );
        let err = |e: Errno| (-(e as i64)) as u64;
        assert_eq!(st, ExitStatus::Exited(0));
        assert_eq!(
            log.results[..5],
            [
                err(Errno::EFAULT),
                err(Errno::EFAULT),
                err(Errno::EFAULT),
                err(Errno::ENOENT),
                0
            ]
        );
        assert_eq!(log.reads, vec![CODE[..2].to_vec()]);
        let (argv, envp, _) = stack_of(&t);
        assert_eq!((argv, envp), (v(&["ok", "arg"]), v(&["HOME=/"])));
    }

    #[test]
    fn stack_grows_below_initial_vma() {
        let (_tb, mut t) = bed_with(&[("/bin/ok", static_exe().build(), 0o755)]);
        exec(&mut t, b"/bin/ok", v(&["ok"]), vec![]).unwrap();
        let stack = t.mm.vmas().last().unwrap().clone();
        let below = stack.start - 64 * PAGE_SIZE;
        t.mm.handle_fault(UserAddr(below), crate::platform::Access::Write)
            .unwrap();
        assert_eq!(t.mm.vmas().last().unwrap().start, below);
        assert_eq!(t.mm.vmas().last().unwrap().name, b"[stack]");
        let _ = FakeDir::new(0o755);
    }
}

# File locks (fcntl.flock, fcntl.lockf across fork, a waiting lock), a
# memfd shared with a forked child through mmap and sealed, a FIFO between
# two processes, and an O_TMPFILE file given a name.
import ctypes
import errno
import fcntl
import mmap
import os
import shutil
import tempfile


def attempt(f, *args):
    try:
        f(*args)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


# A directory of our own (the native run and the sandbox share the cwd).
top = tempfile.mkdtemp()
os.chdir(top)

with open("lockfile", "w+") as a, open("lockfile", "r+") as b:
    fcntl.flock(a, fcntl.LOCK_EX)
    print("flock, another open:", attempt(fcntl.flock, b, fcntl.LOCK_SH | fcntl.LOCK_NB))
    fcntl.flock(a, fcntl.LOCK_UN)
    print("after LOCK_UN:", attempt(fcntl.flock, b, fcntl.LOCK_SH | fcntl.LOCK_NB))
    fcntl.lockf(a, fcntl.LOCK_EX, 10, 0)
    pid = os.fork()
    if pid == 0:
        with open("lockfile", "r+") as c:
            held = attempt(fcntl.lockf, c, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 0)
            free = attempt(fcntl.lockf, c, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 10)
        os._exit(0 if (held, free) == ("EAGAIN", "ok") else 1)
    _, st = os.waitpid(pid, 0)
    print("child lockf conflicts:", os.waitstatus_to_exitcode(st))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        with open("lockfile", "r+") as c:
            os.write(w, b"x")
            fcntl.lockf(c, fcntl.LOCK_EX, 10, 0)
        os._exit(0)
    os.read(r, 1)
    fcntl.lockf(a, fcntl.LOCK_UN, 10, 0)
    _, st = os.waitpid(pid, 0)
    print("child waited for the lock:", os.waitstatus_to_exitcode(st))

fd = os.memfd_create("py", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
pid = os.fork()
if pid == 0:
    m[0:5] = b"child"
    os._exit(0)
os.waitpid(pid, 0)
print("memfd:", m[0:5], os.pread(fd, 5, 0), os.readlink(f"/proc/self/fd/{fd}"))
m.close()
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
print("seals:", fcntl.fcntl(fd, fcntl.F_GET_SEALS), "grow:", attempt(os.ftruncate, fd, 8192))
os.close(fd)

os.mkfifo("fifo")
pid = os.fork()
if pid == 0:
    with open("fifo", "w") as f:
        f.write("through the fifo\n")
    os._exit(0)
with open("fifo") as f:
    print("fifo:", f.read().strip())
os.waitpid(pid, 0)

fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"unnamed")
print("tmpfile before link:", sorted(os.listdir(".")))
# os.link cannot follow the magic link; call linkat(AT_SYMLINK_FOLLOW).
libc = ctypes.CDLL(None, use_errno=True)
src = f"/proc/self/fd/{fd}".encode()
if libc.linkat(-100, src, -100, b"named", 0x400) != 0:
    print("linkat:", errno.errorcode[ctypes.get_errno()])
print("tmpfile:", open("named").read(), sorted(os.listdir(".")))
os.close(fd)
os.chdir("/")
shutil.rmtree(top)

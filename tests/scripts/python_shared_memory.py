# Shared memory between processes through MAP_SHARED file mappings:
# multiprocessing.shared_memory (a file in /dev/shm that each process maps),
# ShareableList, multiprocessing.Value / Array (an unlinked file in /dev/shm
# mapped before fork), and the mmap module on a file of the working
# directory (a child writes through its own mapping, the parent reads the
# file; flush, resize, move, find).
import mmap
import multiprocessing
import os
from multiprocessing import shared_memory


def fill(name, start, n):
    shm = shared_memory.SharedMemory(name=name)
    for i in range(start, start + n):
        shm.buf[i] = (i * 7) % 251
    shm.close()


def bump(counter, arr, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1
    with arr.get_lock():
        for i in range(len(arr)):
            arr[i] += i


def edit_list(name):
    sl = shared_memory.ShareableList(name=name)
    sl[0] = sl[0] * 2
    sl[2] = 'changed'
    sl.shm.close()


def write_file(path):
    with open(path, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0)
        m[0:5] = b'CHILD'
        m[8192:8197] = b'PAGE2'
        m.flush()
        m.close()


if __name__ == '__main__':
    multiprocessing.set_start_method('fork')

    shm = shared_memory.SharedMemory(create=True, size=3 * 4096)
    procs = [multiprocessing.Process(target=fill, args=(shm.name, i * 4096, 4096))
             for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    ok = all(shm.buf[i] == (i * 7) % 251 for i in range(3 * 4096))
    print('shared_memory filled by 3 processes:', ok, [p.exitcode for p in procs])
    with open('/dev/shm' + ('' if shm.name.startswith('/') else '/') + shm.name, 'rb') as f:
        data = f.read()
    print('file in /dev/shm has the bytes:', len(data) >= 3 * 4096 and data[4097] == (4097 * 7) % 251)
    shm.close()
    shm.unlink()

    sl = shared_memory.ShareableList([21, 3.5, 'text', b'bytes', None])
    p = multiprocessing.Process(target=edit_list, args=(sl.shm.name,))
    p.start()
    p.join()
    print('ShareableList after child:', list(sl))
    sl.shm.close()
    sl.shm.unlink()

    counter = multiprocessing.Value('i', 0)
    arr = multiprocessing.Array('d', 8)
    procs = [multiprocessing.Process(target=bump, args=(counter, arr, 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print('Value:', counter.value, 'Array:', list(arr))

    path = 'mapped.bin'
    with open(path, 'wb') as f:
        f.write(b'parent..' + b'\0' * (3 * 4096 - 8))
    p = multiprocessing.Process(target=write_file, args=(path,))
    p.start()
    p.join()
    with open(path, 'rb') as f:
        data = f.read()
    print('file after child mmap write:', data[:8], data[8192:8197])
    with open(path, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0)
        f.seek(100)
        f.write(b'via write')
        f.flush()
        print('mmap sees write():', m[100:109])
        m.resize(5 * 4096)
        m[5 * 4096 - 4:] = b'tail'
        m.move(4096, 0, 5)
        print('after resize and move:', os.path.getsize(path), m[4096:4101], m.find(b'tail'))
        m.flush()
        m.close()
    with open(path, 'rb') as f:
        data = f.read()
    print('file after resize:', len(data), data[-4:], data[4096:4101])
    priv_f = open(path, 'r+b')
    pm = mmap.mmap(priv_f.fileno(), 4096, flags=mmap.MAP_PRIVATE)
    pm[0:4] = b'PRIV'
    pm.close()
    priv_f.seek(0)
    print('MAP_PRIVATE did not write back:', priv_f.read(5))
    priv_f.close()
    os.unlink(path)

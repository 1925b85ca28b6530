# multiprocessing.Pool(4).map: fork workers, feed them through pipes guarded
# by POSIX semaphores in /dev/shm, collect the results; then imap_unordered,
# apply_async and starmap on the same pool.
import multiprocessing


def square(x):
    return x * x


def add(a, b):
    return a + b


if __name__ == '__main__':
    multiprocessing.set_start_method('fork')
    with multiprocessing.Pool(4) as pool:
        print(pool.map(square, range(32)))
        print(sorted(pool.imap_unordered(square, range(10), chunksize=3)))
        print(pool.apply_async(add, (40, 2)).get(timeout=30))
        print(pool.starmap(add, [(i, i) for i in range(8)]))
    print('pool closed')

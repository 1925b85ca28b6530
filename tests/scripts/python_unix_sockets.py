# multiprocessing and socket over unix sockets: a duplex Pipe (socketpair)
# to an echoing child process, a descriptor sent to a child with
# reduction.send_handle (SCM_RIGHTS), Listener / Client on a path and on an
# abstract name, socket.send_fds / recv_fds on a datagram pair.
import multiprocessing as mp, os, socket
from multiprocessing.connection import Listener, Client
from multiprocessing import reduction

def echo(conn):
    while True:
        m = conn.recv()
        if m is None:
            break
        conn.send(('echo', m))
    conn.close()

def use_fd(conn):
    fd = reduction.recv_handle(conn)
    os.write(fd, b'written by the child\n')
    os.close(fd)

def client(address):
    with Client(address) as c:
        c.send(sum(range(100)))
        print('client got', c.recv(), flush=True)

if __name__ == '__main__':
    mp.set_start_method('fork')
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    for m in [1, 'two', [3, 4]]:
        a.send(m)
        print(a.recv())
    a.send(None)
    p.join()
    print('echo exit', p.exitcode)

    a, b = mp.Pipe()
    r, w = os.pipe()
    p = mp.Process(target=use_fd, args=(b,))
    p.start()
    reduction.send_handle(a, w, p.pid)
    os.close(w)
    p.join()
    print(os.read(r, 100).decode().strip())

    for address in ['srv.sock', '\0veil-py-%d' % os.getpid()]:
        with Listener(address, family='AF_UNIX') as l:
            p = mp.Process(target=client, args=(address,))
            p.start()
            with l.accept() as c:
                n = c.recv()
                c.send(n * 2)
            p.join()
        print('listener', 'abstract' if address[0] == '\0' else 'path', 'done')

    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    socket.send_fds(s1, [b'fds'], [0, 1])
    msg, fds, flags, addr = socket.recv_fds(s2, 10, 4)
    print(msg, len(fds), flags)
    print(s1.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_DGRAM)

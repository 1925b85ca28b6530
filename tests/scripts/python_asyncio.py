# asyncio over unix sockets: a unix server and client on a path (bind,
# listen, accept, connect through the event loop), a subprocess with piped
# stdin and stdout, a StreamReader / StreamWriter pair over socketpair()
# moving more than the socket buffer holds, and concurrent sleeps. The
# event loop itself wakes through a socketpair.
import asyncio, socket, sys

async def handle(reader, writer):
    data = await reader.readline()
    writer.write(b'echo: ' + data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()

async def main():
    server = await asyncio.start_unix_server(handle, path='srv.sock')
    r, w = await asyncio.open_unix_connection('srv.sock')
    w.write(b'hello\n')
    await w.drain()
    print((await r.readline()).decode().strip())
    print('then eof:', await r.read() == b'')
    w.close()
    await w.wait_closed()
    server.close()
    await server.wait_closed()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, '-c', 'import sys; print(sys.stdin.read().upper())',
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(b'through a pipe')
    print(out.decode().strip(), proc.returncode)
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    wa.write(b'x' * 1000000)
    _, got = await asyncio.gather(wa.drain(), rb.readexactly(1000000))
    print('socketpair stream:', len(got))
    wa.close()
    print('eof after close:', await rb.read() == b'')
    wb.close()
    print(await asyncio.gather(*(asyncio.sleep(0.01 * (3 - i), i) for i in range(3))))

asyncio.run(main())

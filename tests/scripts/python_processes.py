import threading, subprocess, os, signal, time, sys
from concurrent.futures import ThreadPoolExecutor

# threading: Lock, Condition, Event across 8 threads
lock = threading.Lock(); cond = threading.Condition(); ev = threading.Event()
count = 0; ready = 0
def worker(i):
    global count, ready
    with cond:
        ready += 1
        cond.notify_all()
    ev.wait()
    for _ in range(1000):
        with lock:
            count += 1
ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in ts: t.start()
with cond:
    cond.wait_for(lambda: ready == 8)
ev.set()
for t in ts: t.join()
print("threads count", count)

# subprocess with pipes and a timeout
r = subprocess.run(["/bin/busybox", "tr", "a-z", "A-Z"], input=b"hello\n", capture_output=True)
print("subprocess", r.returncode, r.stdout)
try:
    subprocess.run(["/bin/busybox", "sleep", "5"], timeout=0.3)
except subprocess.TimeoutExpired:
    print("timeout expired")

# fork + waitpid
pid = os.fork()
if pid == 0:
    os._exit(7)
_, st = os.waitpid(pid, 0)
print("fork status", os.waitstatus_to_exitcode(st))

# alarm with a handler
got = []
signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
signal.alarm(1)
while not got:
    time.sleep(0.01)
print("alarm", got)

# pthread_kill
hit = threading.Event()
signal.signal(signal.SIGUSR1, lambda s, f: hit.set())
signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
print("pthread_kill", hit.wait(2))

with ThreadPoolExecutor(max_workers=4) as ex:
    print("executor", list(ex.map(lambda x: x * x, range(10))))

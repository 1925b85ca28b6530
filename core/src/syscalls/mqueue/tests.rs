//! Unit tests of the message-queue model (see `tests/progs/mqueue.c` for
//! the calls themselves, natively and in veil).

use alloc::sync::Arc;
use alloc::vec;

use veil_abi::flags::*;
use veil_abi::{Errno, Timespec};

use super::queue::*;
use crate::task::ThreadGroup;
use crate::vfs::node::FileOps;

fn create(
    ns: &MqNamespace,
    name: &[u8],
    attr: Option<(i64, i64)>,
    uid: u32,
) -> Result<Arc<MsgQueue>, Errno> {
    ns.create(
        name,
        Create {
            uid,
            owner: (uid, uid),
            privileged: uid == 0,
            mode: 0o600,
            attr,
            rlimit: 819_200,
            now: Timespec::default(),
        },
    )
}

fn from() -> Sender {
    Sender { pid: 7, uid: 1000 }
}

#[test]
fn attributes_and_limits() {
    let ns = MqNamespace::new();
    let q = create(&ns, b"a", None, 1000).unwrap();
    assert_eq!((q.attr().maxmsg, q.attr().msgsize), (10, 8192));
    assert_eq!(create(&ns, b"a", None, 1000).err(), Some(Errno::EEXIST));
    assert_eq!(
        create(&ns, b"b", Some((11, 16)), 1000).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        create(&ns, b"b", Some((0, 16)), 1000).err(),
        Some(Errno::EINVAL)
    );
    // Root (CAP_SYS_RESOURCE) may go up to the hard limits.
    assert!(create(&ns, b"b", Some((11, 16)), 0).is_ok());
    assert_eq!(
        create(&ns, b"c", Some((65537, 1)), 0).err(),
        Some(Errno::EINVAL)
    );
    // RLIMIT_MSGQUEUE: 10 * 8192 + 960 bytes each; the tenth is refused.
    for i in 0..8u8 {
        create(&ns, &[b'q', i], None, 1000).unwrap();
    }
    assert_eq!(create(&ns, b"q9", None, 1000).err(), Some(Errno::EMFILE));
    // Unlinking and dropping the last reference gives the bytes back.
    ns.unlink(b"a", Timespec::default()).unwrap();
    drop(q);
    assert!(create(&ns, b"q9", None, 1000).is_ok());
    assert_eq!(ns.unlink(b"a", Timespec::default()), Err(Errno::ENOENT));
}

#[test]
fn sysctl_ranges() {
    let ns = MqNamespace::new();
    assert_eq!(ns.set_limit(MqSysctl::MsgDefault, 0), Err(Errno::EINVAL));
    assert_eq!(ns.set_limit(MqSysctl::MsgsizeMax, 127), Err(Errno::EINVAL));
    assert_eq!(ns.set_limit(MqSysctl::QueuesMax, -1), Err(Errno::EINVAL));
    ns.set_limit(MqSysctl::MsgDefault, 3).unwrap();
    ns.set_limit(MqSysctl::QueuesMax, 1).unwrap();
    let q = create(&ns, b"a", None, 1000).unwrap();
    assert_eq!(q.attr().maxmsg, 3);
    assert_eq!(create(&ns, b"b", None, 1000).err(), Some(Errno::ENOSPC));
}

#[test]
fn priorities_and_readiness() {
    let ns = MqNamespace::new();
    let q = create(&ns, b"a", Some((3, 8)), 0).unwrap();
    let f = q.open_file();
    assert_eq!(f.poll(), POLLOUT | POLLWRNORM);
    let now = Timespec::default();
    for (m, p) in [(&b"low"[..], 1), (b"high", 5), (b"high2", 5)] {
        q.send(&mut m.to_vec(), p, &from(), now).unwrap();
    }
    assert_eq!(f.poll(), POLLIN | POLLRDNORM);
    let mut extra = b"x".to_vec();
    assert_eq!(
        q.send(&mut extra, 0, &from(), now).err(),
        Some(Errno::EAGAIN)
    );
    assert_eq!(extra, b"x", "a refused message is left to the caller");
    assert_eq!(q.receive(now).unwrap(), (b"high".to_vec(), 5));
    assert_eq!(q.receive(now).unwrap(), (b"high2".to_vec(), 5));
    assert_eq!(q.receive(now).unwrap(), (b"low".to_vec(), 1));
    assert_eq!(q.receive(now).err(), Some(Errno::EAGAIN));
}

#[test]
fn notification_is_consumed_once() {
    let ns = MqNamespace::new();
    let q = create(&ns, b"a", Some((3, 8)), 0).unwrap();
    let tg = Arc::new(ThreadGroup::new(5, 1));
    let now = Timespec::default();
    q.register(SIGEV_SIGNAL, 10, 1234, &tg, 1, now).unwrap();
    assert_eq!(
        q.register(SIGEV_SIGNAL, 10, 1, &tg, 1, now),
        Err(Errno::EBUSY)
    );
    let line = alloc::string::String::from_utf8(q.status_line()).unwrap();
    assert_eq!(
        line,
        "QSIZE:0          NOTIFY:0     SIGNO:10    NOTIFY_PID:5     \n"
    );
    let n = q.send(&mut vec![1, 2], 0, &from(), now).unwrap().unwrap();
    let (to, info) = n.signal.unwrap();
    assert!(Arc::ptr_eq(&to, &tg));
    assert_eq!(
        (info.signo, info.code, info.fields[0], info.fields[1]),
        (10, SI_MESGQ, 7 | (1000 << 32), 1234)
    );
    // Consumed: the next arrival in an empty queue tells no one.
    q.receive(now).unwrap();
    assert!(q.send(&mut vec![1], 0, &from(), now).unwrap().is_none());
    q.receive(now).unwrap();
    // A receiver waiting takes the message: no notification either.
    q.register(SIGEV_NONE, 0, 0, &tg, 2, now).unwrap();
    q.receiver_waits(true);
    assert!(q.send(&mut vec![1], 0, &from(), now).unwrap().is_none());
    q.receiver_waits(false);
    // Releasing the description it was made through drops it.
    q.receive(now).unwrap();
    let f = super::queue::MqFile {
        queue: q.clone(),
        id: 2,
    };
    f.release();
    assert!(q.register(SIGEV_NONE, 0, 0, &tg, 3, now).is_ok());
    // Only its owner removes it.
    let other = Arc::new(ThreadGroup::new(6, 1));
    q.unregister(&other, now);
    assert_eq!(
        q.register(SIGEV_NONE, 0, 0, &other, 4, now),
        Err(Errno::EBUSY)
    );
    q.unregister(&tg, now);
    assert!(q.register(SIGEV_NONE, 0, 0, &other, 4, now).is_ok());
    // A dead owner's registration does not count.
    drop(other);
    assert!(q.register(SIGEV_NONE, 0, 0, &tg, 5, now).is_ok());
}

//! Randomness from the host's getrandom(2).

use veil_core::host::Random;

/// Fills buffers from the host kernel's CSPRNG (getrandom(2), blocking
/// only until the host's pool is first initialised).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRandom;

impl HostRandom {
    /// The host's randomness.
    pub fn new() -> HostRandom {
        HostRandom
    }
}

impl Random for HostRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n > 0 {
                done += n as usize;
                continue;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // getrandom only fails on hosts older than 3.17 or under a
            // seccomp policy that forbids it: fall back to /dev/urandom.
            // Without randomness we must not hand out predictable bytes.
            use std::io::Read;
            let res = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(rest));
            if let Err(e) = res {
                panic!("veil: no host randomness: getrandom: {err}; /dev/urandom: {e}");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_everything_and_differs() {
        let r = HostRandom::new();
        let mut a = vec![0u8; 100_000];
        let mut b = vec![0u8; 100_000];
        r.fill(&mut a);
        r.fill(&mut b);
        assert_ne!(a, b);
        // No long run of zeros left unfilled at the end.
        assert!(a[a.len() - 64..].iter().any(|&x| x != 0));
        r.fill(&mut []);
    }
}

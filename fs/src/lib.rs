//! veil-fs: filesystems plugged into veil-core's VFS.
